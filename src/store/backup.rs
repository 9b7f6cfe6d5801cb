//! Backups of a whole store, and their restore. The GeoPackage: `VACUUM INTO`, a
//! consistent copy made while the store is in use; restored by putting the copy in place.
//! PostGIS: `pg_dump` of the database's `public` schema (Atlante's catalog and every layer
//! table) in its custom format; restored with `pg_restore --clean`. Restore with the
//! servers stopped.

use std::path::Path;

use super::{Result, StoreError};

fn is_postgres(location: &str) -> bool {
    location.starts_with("postgres://") || location.starts_with("postgresql://")
}

/// Runs a PostgreSQL client tool; its standard output.
async fn tool(name: &str, args: &[&str]) -> Result<Vec<u8>> {
    let out = tokio::process::Command::new(name)
        .args(args)
        .output()
        .await
        .map_err(|e| StoreError::Location(format!("{name}: {e} (install postgresql-client)")))?;
    if !out.status.success() {
        return Err(StoreError::Location(format!(
            "{name} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(out.stdout)
}

/// Writes a backup of the store at `location` to `out` (which must not exist).
pub async fn backup(location: &str, out: &Path) -> Result<()> {
    if out.exists() {
        return Err(StoreError::Location(format!(
            "{} exists: choose a new file",
            out.display()
        )));
    }
    let out_s = out.display().to_string();
    if is_postgres(location) {
        tool(
            "pg_dump",
            &[
                "--format=custom",
                "--no-owner",
                "--no-privileges",
                "--schema=public",
                "--file",
                &out_s,
                "--dbname",
                location,
            ],
        )
        .await?;
        return Ok(());
    }
    use sqlx::Connection;
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{location}")).await?;
    sqlx::query("VACUUM INTO ?")
        .bind(&out_s)
        .execute(&mut c)
        .await?;
    c.close().await?;
    Ok(())
}

/// Replaces the store at `location` with the backup `from`, and gives its change log a new
/// identity (sequence numbers after the restore may repeat ones seen before it).
pub async fn restore(location: &str, from: &Path) -> Result<()> {
    put_back(location, from).await?;
    super::open(location).await?.renew_log_id().await
}

async fn put_back(location: &str, from: &Path) -> Result<()> {
    if !from.is_file() {
        return Err(StoreError::Location(format!(
            "{}: no such backup",
            from.display()
        )));
    }
    let from_s = from.display().to_string();
    if is_postgres(location) {
        // Everything but the `public` schema itself (PostGIS lives in it): its tables are
        // dropped and recreated from the backup.
        let listing = tool("pg_restore", &["--list", &from_s]).await?;
        let keep: String = String::from_utf8_lossy(&listing)
            .lines()
            .filter(|l| !l.contains(" SCHEMA - public ") && !l.contains("COMMENT - SCHEMA public"))
            .map(|l| format!("{l}\n"))
            .collect();
        let list = tempfile::NamedTempFile::new()
            .and_then(|mut f| {
                use std::io::Write;
                f.write_all(keep.as_bytes())?;
                Ok(f)
            })
            .map_err(|e| StoreError::Location(format!("restore list: {e}")))?;
        let list_s = list.path().display().to_string();
        tool(
            "pg_restore",
            &[
                "--clean",
                "--if-exists",
                "--no-owner",
                "--no-privileges",
                "--single-transaction",
                "--use-list",
                &list_s,
                "--dbname",
                location,
                &from_s,
            ],
        )
        .await?;
        return Ok(());
    }
    let target = Path::new(location);
    let tmp = target.with_extension("restoring");
    std::fs::copy(from, &tmp)
        .map_err(|e| StoreError::Location(format!("{}: {e}", tmp.display())))?;
    for side in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{location}{side}"));
    }
    std::fs::rename(&tmp, target)
        .map_err(|e| StoreError::Location(format!("{}: {e}", target.display())))?;
    Ok(())
}
