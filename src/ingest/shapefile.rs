//! Checks on a Shapefile's raw files, where GDAL is lenient and a publisher must not be:
//! a truncated `.shp`, a missing `.shx`/`.dbf`, duplicate DBF field names, and the DBF text
//! encoding when no `.cpg` says it.

use std::fs;
use std::path::{Path, PathBuf};

/// What the raw DBF header and records tell.
#[derive(Debug, Clone)]
pub struct DbfInfo {
    pub records: u64,
    /// Language driver id (header byte 29); 0 means "not declared".
    pub ldid: u8,
    /// Field names as raw bytes, in order.
    pub field_names: Vec<Vec<u8>>,
    pub has_non_ascii: bool,
    pub valid_utf8: bool,
}

/// The sibling of `shp` with extension `ext`, in either case.
pub fn sibling(shp: &Path, ext: &str) -> Option<PathBuf> {
    [ext.to_ascii_lowercase(), ext.to_ascii_uppercase()]
        .iter()
        .map(|e| shp.with_extension(e))
        .find(|p| p.is_file())
}

/// Checks the `.shp`/`.shx` pair; returns the record count of the index.
pub fn check_shp(shp: &Path) -> Result<u64, String> {
    let shx = sibling(shp, "shx").ok_or("the .shx index is missing")?;
    let header = read_prefix(shp, 100)?;
    if header.len() < 100 || header[0..4] != [0, 0, 0x27, 0x0a] {
        return Err("the .shp is not a Shapefile (bad header)".into());
    }
    let declared = u32::from_be_bytes([header[24], header[25], header[26], header[27]]) as u64 * 2;
    let actual = fs::metadata(shp).map_err(|e| e.to_string())?.len();
    if actual < declared {
        return Err(format!(
            "the .shp is truncated: its header says {declared} bytes, the file has {actual}"
        ));
    }
    let shx_len = fs::metadata(&shx).map_err(|e| e.to_string())?.len();
    if shx_len < 100 || (shx_len - 100) % 8 != 0 {
        return Err(format!("the .shx index has a bad length ({shx_len} bytes)"));
    }
    Ok((shx_len - 100) / 8)
}

fn read_prefix(p: &Path, n: usize) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let mut f = fs::File::open(p).map_err(|e| format!("{}: {e}", p.display()))?;
    let mut buf = vec![0; n];
    let got = f.read(&mut buf).map_err(|e| e.to_string())?;
    buf.truncate(got);
    Ok(buf)
}

/// Reads the DBF header and scans the records for their encoding.
pub fn read_dbf(dbf: &Path) -> Result<DbfInfo, String> {
    let bytes = fs::read(dbf).map_err(|e| format!("cannot read the .dbf: {e}"))?;
    if bytes.len() < 32 {
        return Err("the .dbf is too short to be a dBase file".into());
    }
    let records = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as u64;
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let record_len = u16::from_le_bytes([bytes[10], bytes[11]]) as usize;
    if header_len < 33 || header_len > bytes.len() {
        return Err("the .dbf header is damaged".into());
    }
    let mut field_names = Vec::new();
    let mut off = 32;
    while off + 32 <= header_len && bytes[off] != 0x0d {
        let raw = &bytes[off..off + 11];
        let end = raw.iter().position(|&b| b == 0).unwrap_or(11);
        field_names.push(raw[..end].to_vec());
        off += 32;
    }
    let data_end = (header_len + record_len * records as usize).min(bytes.len());
    let data = &bytes[header_len..data_end];
    let has_non_ascii =
        data.iter().any(|&b| b >= 0x80) || field_names.iter().flatten().any(|&b| b >= 0x80);
    // Records are fixed-width: a field can cut a multi-byte character only if the writer
    // did, so a whole-area check is a fair test of UTF-8.
    let valid_utf8 = std::str::from_utf8(data).is_ok();
    if data_end < header_len + record_len * records as usize {
        return Err(format!(
            "the .dbf is truncated: {records} records declared, fewer present"
        ));
    }
    Ok(DbfInfo {
        records,
        ldid: bytes[29],
        field_names,
        has_non_ascii,
        valid_utf8,
    })
}

/// Reads a `.cpg`: its text, trimmed (None when there is no `.cpg`).
pub fn read_cpg(shp: &Path) -> Option<String> {
    let cpg = sibling(shp, "cpg")?;
    let bytes = fs::read(cpg).ok()?;
    Some(String::from_utf8_lossy(&bytes).trim().to_string())
}

/// The encodings Atlante reads DBF text in (GDAL names), with the names users and ArcGIS
/// write for them (`1252`, `latin1`, `utf8`…). Anything else is refused with a clear error
/// rather than handed to GDAL, which would store replacement characters without a word.
const ENCODINGS: &[(&str, &[&str])] = &[
    ("UTF-8", &["UTF8"]),
    (
        "CP1252",
        &["1252", "CP1252", "WINDOWS1252", "ANSI1252", "ANSI"],
    ),
    ("ISO-8859-1", &["LATIN1", "ISO88591", "88591", "ISO8859"]),
    ("ISO-8859-15", &["LATIN9", "ISO885915", "885915"]),
    ("CP850", &["850", "CP850", "OEM850"]),
    ("CP437", &["437", "CP437", "OEM437", "OEM"]),
    ("CP1250", &["1250", "CP1250", "WINDOWS1250"]),
    ("CP1251", &["1251", "CP1251", "WINDOWS1251"]),
    ("CP1253", &["1253", "CP1253", "WINDOWS1253"]),
    ("CP1254", &["1254", "CP1254", "WINDOWS1254"]),
    ("CP1257", &["1257", "CP1257", "WINDOWS1257"]),
    ("ISO-8859-2", &["LATIN2", "ISO88592", "88592"]),
    ("ISO-8859-5", &["ISO88595", "88595"]),
    ("ISO-8859-7", &["ISO88597", "88597"]),
    ("ISO-8859-9", &["LATIN5", "ISO88599", "88599"]),
    ("CP852", &["852", "CP852"]),
    ("CP866", &["866", "CP866"]),
    ("KOI8-R", &["KOI8R"]),
    ("SHIFT_JIS", &["SJIS", "SHIFTJIS", "CP932", "932"]),
    ("GBK", &["GBK", "CP936", "936", "GB2312"]),
    ("BIG5", &["BIG5", "CP950", "950"]),
    ("EUC-KR", &["EUCKR", "CP949", "949"]),
];

/// The GDAL name of an encoding as users and `.cpg` files write it, or None when Atlante
/// does not know it.
pub fn gdal_encoding(name: &str) -> Option<&'static str> {
    let n = name
        .trim()
        .to_ascii_uppercase()
        .replace(['-', '_', ' ', '.'], "");
    ENCODINGS
        .iter()
        .find(|(gdal, aliases)| gdal.replace(['-', '_'], "") == n || aliases.contains(&n.as_str()))
        .map(|(gdal, _)| *gdal)
}

#[cfg(test)]
mod tests {
    use super::gdal_encoding;

    #[test]
    fn encodings() {
        assert_eq!(gdal_encoding("1252"), Some("CP1252"));
        assert_eq!(gdal_encoding(" utf-8 "), Some("UTF-8"));
        assert_eq!(gdal_encoding("ISO 8859-1"), Some("ISO-8859-1"));
        assert_eq!(gdal_encoding("latin1"), Some("ISO-8859-1"));
        assert_eq!(gdal_encoding("Shift_JIS"), Some("SHIFT_JIS"));
        assert_eq!(gdal_encoding("KLINGON-42"), None);
        assert_eq!(gdal_encoding(""), None);
    }
}
