//! Text encodings of the files comuni deliver. Nothing is ever stored with replacement
//! characters: a CSV that is not UTF-8 is recoded from the encoding the user names (or
//! refused, asking for one), and [`has_replacement`] lets the reader tell a real U+FFFD in
//! the source from one a failed decoding made.

use std::ffi::{CStr, CString};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;

use gdal::errors::CplErrType;

use super::gdal_env;

/// Is the whole file valid UTF-8 (a BOM allowed)? Read in chunks.
pub fn is_utf8(path: &Path) -> std::io::Result<bool> {
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 16];
    let mut carry: Vec<u8> = Vec::new();
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(carry.is_empty());
        }
        carry.extend_from_slice(&buf[..n]);
        match std::str::from_utf8(&carry) {
            Ok(_) => carry.clear(),
            // A character cut at the chunk's end: keep its bytes for the next chunk.
            Err(e) if e.error_len().is_none() => {
                carry.drain(..e.valid_up_to());
            }
            Err(_) => return Ok(false),
        }
    }
}

/// Does the file hold the UTF-8 bytes of U+FFFD (so a replacement character in its text
/// is genuinely there)?
pub fn has_replacement(path: &Path) -> bool {
    const FFFD: [u8; 3] = [0xEF, 0xBF, 0xBD];
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let mut buf = vec![0u8; 1 << 16];
    let mut tail: Vec<u8> = Vec::new();
    loop {
        let Ok(n) = f.read(&mut buf) else {
            return false;
        };
        if n == 0 {
            return false;
        }
        tail.extend_from_slice(&buf[..n]);
        if tail.windows(3).any(|w| w == FFFD) {
            return true;
        }
        let keep = tail.len().min(2);
        tail.drain(..tail.len() - keep);
    }
}

/// Recodes a text file from `from` (a GDAL/iconv encoding name) to UTF-8, line by line,
/// through GDAL's `CPLRecode`. A byte sequence that is not valid in `from` is an error.
pub fn recode_to_utf8(src: &Path, dst: &Path, from: &str) -> Result<(), String> {
    gdal_env::init();
    let from_c = CString::new(from).map_err(|_| "bad encoding name".to_string())?;
    let to_c = CString::new("UTF-8").unwrap_or_default();
    let input = std::fs::File::open(src).map_err(|e| e.to_string())?;
    let mut out = std::io::BufWriter::new(std::fs::File::create(dst).map_err(|e| e.to_string())?);
    let mut reader = BufReader::new(input);
    let mut line = Vec::new();
    let mut n = 0u64;
    loop {
        line.clear();
        if reader
            .read_until(b'\n', &mut line)
            .map_err(|e| e.to_string())?
            == 0
        {
            break;
        }
        n += 1;
        if line.contains(&0) {
            return Err(format!(
                "line {n} holds a NUL byte: this is not a text file"
            ));
        }
        let c = CString::new(line.clone()).map_err(|e| e.to_string())?;
        let (recoded, msgs) = gdal_env::capture(|| {
            // SAFETY: both strings are NUL-terminated and outlive the call; the result is
            // a GDAL allocation, freed below with VSIFree.
            unsafe {
                let p = gdal_sys::CPLRecode(c.as_ptr(), from_c.as_ptr(), to_c.as_ptr());
                if p.is_null() {
                    return None;
                }
                let s = CStr::from_ptr(p).to_bytes().to_vec();
                gdal_sys::VSIFree(p.cast());
                Some(s)
            }
        });
        if msgs.iter().any(|(c, _)| {
            matches!(
                c,
                CplErrType::Warning | CplErrType::Failure | CplErrType::Fatal
            )
        }) {
            return Err(format!("line {n} is not valid {from} text"));
        }
        let recoded =
            recoded.ok_or_else(|| format!("line {n} could not be recoded from {from}"))?;
        out.write_all(&recoded).map_err(|e| e.to_string())?;
    }
    out.flush().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_and_recoding() {
        let dir = tempfile::tempdir().unwrap();
        let cp = dir.path().join("cp.csv");
        std::fs::write(&cp, b"nome\nCitt\xe0 di Milano\n").unwrap();
        assert!(!is_utf8(&cp).unwrap());
        let out = dir.path().join("utf8.csv");
        recode_to_utf8(&cp, &out, "CP1252").unwrap();
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "nome\nCittà di Milano\n"
        );
        assert!(is_utf8(&out).unwrap());
        assert!(!has_replacement(&out));
        let long = dir.path().join("long.csv");
        std::fs::write(&long, "à".repeat(100_000)).unwrap();
        assert!(is_utf8(&long).unwrap());
        std::fs::write(&long, "x\u{FFFD}y").unwrap();
        assert!(has_replacement(&long));
    }
}
