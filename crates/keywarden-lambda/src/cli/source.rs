//! Where `keywarden report` reads runs from: a report file, a directory of archived
//! reports (the bucket as `aws s3 sync` mirrors it), or the S3 archive itself.
//!
//! Strict on purpose: a named file that is not a report, or a `.json` in the archive's
//! layout that does not parse, is an error naming it. A page that silently skipped a
//! corrupted run would chart a trend that never happened.

use std::path::{Path, PathBuf};

use keywarden_core::export::document::{is_archived_report, Document};

use super::args::AwsArgs;
use super::CliError;

/// One `SOURCE` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A report file.
    File(PathBuf),
    /// A directory, walked for archived reports.
    Dir(PathBuf),
    /// `s3://bucket[/prefix]`.
    S3 {
        /// The archive bucket.
        bucket: String,
        /// Only keys under this (an account id, a date); empty for the whole bucket.
        prefix: String,
    },
}

impl Source {
    /// Reads the argument as the user meant it; a path that does not exist is an error.
    pub fn parse(arg: &str) -> Result<Self, CliError> {
        if let Some(rest) = arg.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(CliError::Usage(format!("`{arg}` names no bucket (s3://bucket[/prefix])")));
            }
            return Ok(Source::S3 { bucket: bucket.to_string(), prefix: prefix.to_string() });
        }
        let path = PathBuf::from(arg);
        match std::fs::metadata(&path) {
            Ok(m) if m.is_dir() => Ok(Source::Dir(path)),
            Ok(_) => Ok(Source::File(path)),
            Err(source) => Err(CliError::Io { path, source }),
        }
    }
}

/// Every document of every source.
pub async fn load(args: &[String], history: usize, aws: &AwsArgs) -> Result<Vec<Document>, CliError> {
    let mut documents = Vec::new();
    for arg in args {
        match Source::parse(arg)? {
            Source::File(path) => documents.push(read_file(&path)?),
            Source::Dir(dir) => documents.extend(read_dir(&dir)?),
            Source::S3 { bucket, prefix } => {
                let sdk = crate::sdk_config(aws.profile.as_deref(), aws.region.as_deref()).await;
                let counter = keywarden_aws::ApiCallCounter::new();
                let s3 = keywarden_aws::clients(&sdk, &counter).s3;
                let store = keywarden_aws::S3ReportStore::new(s3, bucket.clone());
                for (key, body) in store.archived(&prefix, history).await.map_err(CliError::Read)? {
                    let document = Document::parse(&body).map_err(|source| CliError::Document {
                        path: format!("s3://{bucket}/{key}"),
                        source,
                    })?;
                    documents.push(document);
                }
            }
        }
    }
    Ok(documents)
}

fn read_file(path: &Path) -> Result<Document, CliError> {
    let bytes = std::fs::read(path).map_err(|source| CliError::Io { path: path.to_path_buf(), source })?;
    Document::parse(&bytes).map_err(|source| CliError::Document { path: path.display().to_string(), source })
}

fn read_dir(dir: &Path) -> Result<Vec<Document>, CliError> {
    let mut documents = Vec::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.map_err(|e| CliError::Io {
            path: e.path().map_or_else(|| dir.to_path_buf(), Path::to_path_buf),
            source: e.into(),
        })?;
        let relative = entry.path().strip_prefix(dir).unwrap_or(entry.path());
        if entry.file_type().is_file() && is_archived_report(&relative.to_string_lossy()) {
            documents.push(read_file(entry.path())?);
        }
    }
    Ok(documents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_read_as_meant() {
        assert!(matches!(
            Source::parse("s3://archive/123456789012/2026"),
            Ok(Source::S3 { bucket, prefix }) if bucket == "archive" && prefix == "123456789012/2026"
        ));
        assert!(matches!(Source::parse("s3://"), Err(CliError::Usage(_))));
        assert!(matches!(Source::parse("/no/such/report.json"), Err(CliError::Io { .. })));
    }

    #[test]
    fn a_directory_with_a_foreign_json_is_an_error_naming_it() {
        let dir = std::env::temp_dir().join(format!("keywarden-source-{}", std::process::id()));
        let account = dir.join("123456789012");
        std::fs::create_dir_all(account.join("2026")).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(account.join("latest.json"), r#"{"key": "x"}"#).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(account.join("2026").join("run.json"), "{\"not\": \"a report\"}")
            .unwrap_or_else(|e| panic!("{e}"));
        let err = read_dir(&dir).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("run.json") && err.contains("not a keywarden report"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
