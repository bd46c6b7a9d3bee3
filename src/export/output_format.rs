//! The output formats as data: one row per format with every name it goes by. The command
//! line (`--format`, `--output` extensions), `COPY ... STORED AS`, the service's
//! `RESPONSEFORMAT`, its VOSI capabilities and the MIME types of its answers all read
//! [`FORMATS`]; the writers are the `Sink` arms of `export::mod`. A new format is a row
//! here and a writer there.

use std::path::Path;

use crate::formats::fits::FITS_EXTENSIONS;

/// Output formats of `skyql query`, `COPY ... STORED AS` and the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// A table for people (the whole result is held in memory).
    Table,
    /// RFC 4180 CSV with a header row.
    Csv,
    /// A JSON array of objects.
    Json,
    /// Parquet with the VOParquet metadata keys.
    Parquet,
    /// VOTable 1.4, TABLEDATA serialization.
    Votable,
    /// VOTable 1.4, BINARY2 serialization.
    VotableBinary2,
    /// FITS binary table (BINTABLE).
    Fits,
}

/// Everything one output format is called.
#[derive(Debug)]
pub struct FormatSpec {
    /// The format.
    pub format: OutputFormat,
    /// Its name on the command line (`--format NAME`) and in job records.
    pub name: &'static str,
    /// Other short names `RESPONSEFORMAT` accepts.
    pub aliases: &'static [&'static str],
    /// The extension of files written in it.
    pub extension: &'static str,
    /// The extensions that announce it on an `--output` name (lower case).
    pub announced_by: &'static [&'static str],
    /// The MIME type the service answers with.
    pub mime: &'static str,
    /// Other MIME types `RESPONSEFORMAT` accepts for it (lower case, without spaces).
    pub other_mimes: &'static [&'static str],
    /// The TAPRegExt identifier of the format, where the standard gives one.
    pub tapregext_id: Option<&'static str>,
    /// The alias the service's capabilities list; `None`: the service does not offer it.
    pub service_alias: Option<&'static str>,
    /// `COPY ... STORED AS` names skyql registers (none: DataFusion's own writer, or
    /// another row's names with an option, as BINARY2 is VOTable's `serialization`).
    pub copy_names: &'static [&'static str],
    /// Bytes for programs, not a terminal.
    pub binary: bool,
}

/// Every output format, in the order `--help` and the capabilities list them.
pub const FORMATS: [FormatSpec; 7] = [
    FormatSpec {
        format: OutputFormat::Table,
        name: "table",
        aliases: &[],
        extension: "txt",
        announced_by: &["txt"],
        mime: "text/plain",
        other_mimes: &[],
        tapregext_id: None,
        service_alias: None,
        copy_names: &[],
        binary: false,
    },
    FormatSpec {
        format: OutputFormat::Csv,
        name: "csv",
        aliases: &[],
        extension: "csv",
        announced_by: &["csv"],
        mime: "text/csv",
        other_mimes: &["text/csv;header=present"],
        tapregext_id: None,
        service_alias: Some("csv"),
        copy_names: &[],
        binary: false,
    },
    FormatSpec {
        format: OutputFormat::Json,
        name: "json",
        aliases: &[],
        extension: "json",
        announced_by: &["json"],
        mime: "application/json",
        other_mimes: &[],
        tapregext_id: None,
        service_alias: None,
        copy_names: &[],
        binary: false,
    },
    FormatSpec {
        format: OutputFormat::Parquet,
        name: "parquet",
        aliases: &[],
        extension: "parquet",
        announced_by: &["parquet", "pq"],
        mime: "application/vnd.apache.parquet",
        other_mimes: &["application/x-parquet"],
        tapregext_id: None,
        service_alias: Some("parquet"),
        copy_names: &[],
        binary: true,
    },
    FormatSpec {
        format: OutputFormat::Votable,
        name: "votable",
        aliases: &["vot"],
        extension: "vot",
        announced_by: &["vot", "votable", "xml"],
        mime: "application/x-votable+xml",
        other_mimes: &[
            "text/xml",
            "application/x-votable+xml;serialization=tabledata",
            "application/x-votable+xml;serialization=td",
        ],
        tapregext_id: Some("ivo://ivoa.net/std/TAPRegExt#output-votable-td"),
        service_alias: Some("votable"),
        copy_names: &["votable", "vot", "xml"],
        binary: false,
    },
    FormatSpec {
        format: OutputFormat::VotableBinary2,
        name: "votable-binary2",
        aliases: &["votable/b2", "binary2"],
        extension: "vot",
        announced_by: &[],
        mime: "application/x-votable+xml;serialization=BINARY2",
        other_mimes: &["application/x-votable+xml;serialization=b2"],
        tapregext_id: Some("ivo://ivoa.net/std/TAPRegExt#output-votable-binary2"),
        service_alias: Some("votable/b2"),
        copy_names: &[],
        binary: false,
    },
    FormatSpec {
        format: OutputFormat::Fits,
        name: "fits",
        aliases: &[],
        extension: "fits",
        announced_by: &FITS_EXTENSIONS,
        mime: "application/fits",
        other_mimes: &[],
        tapregext_id: None,
        service_alias: Some("fits"),
        copy_names: &FITS_EXTENSIONS,
        binary: true,
    },
];

/// Every format, in the order of [`FORMATS`].
pub const ALL_FORMATS: [OutputFormat; FORMATS.len()] = {
    let mut all = [OutputFormat::Table; FORMATS.len()];
    let mut i = 0;
    while i < FORMATS.len() {
        all[i] = FORMATS[i].format;
        i += 1;
    }
    all
};

impl OutputFormat {
    /// The row of [`FORMATS`] of this format.
    pub fn spec(self) -> &'static FormatSpec {
        FORMATS
            .iter()
            .find(|s| s.format == self)
            .expect("every output format has a row in FORMATS")
    }

    /// The name of the format on the command line (`--format NAME`).
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// The format of a name (`votable`, `csv`, ...).
    pub fn from_name(name: &str) -> Option<Self> {
        FORMATS.iter().find(|s| s.name == name).map(|s| s.format)
    }

    /// The format a file name announces by its extension, if any.
    pub fn from_extension(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_string_lossy().to_ascii_lowercase();
        FORMATS
            .iter()
            .find(|s| s.announced_by.contains(&ext.as_str()))
            .map(|s| s.format)
    }

    /// The usual file extension of the format.
    pub fn extension(self) -> &'static str {
        self.spec().extension
    }

    /// The MIME type of a result in this format.
    pub fn mime(self) -> &'static str {
        self.spec().mime
    }

    /// Whether the format is bytes for programs rather than text for a terminal.
    pub fn is_binary(self) -> bool {
        self.spec().binary
    }

    /// The format a service's `RESPONSEFORMAT` names (a MIME type or a short name, any
    /// case, spaces ignored), among those the service offers.
    pub fn from_response_format(text: &str) -> Option<Self> {
        let wanted = text.trim().to_ascii_lowercase().replace(' ', "");
        FORMATS
            .iter()
            .filter(|s| s.service_alias.is_some())
            .find(|s| {
                s.name == wanted
                    || s.aliases.contains(&wanted.as_str())
                    || s.mime.to_ascii_lowercase() == wanted
                    || s.other_mimes.contains(&wanted.as_str())
            })
            .map(|s| s.format)
    }
}

/// The formats' names joined for a message (`table, csv, json, ...`).
pub fn format_names() -> String {
    FORMATS
        .iter()
        .map(|s| s.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The extensions that announce a format, each with its dot, for a message.
pub fn announcing_extensions() -> String {
    FORMATS
        .iter()
        .flat_map(|s| s.announced_by.iter())
        .map(|e| format!(".{e}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The short names of the formats the service offers, for a message.
pub fn service_aliases() -> String {
    FORMATS
        .iter()
        .filter_map(|s| s.service_alias)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_has_one_row_and_names_are_unique() {
        let mut names = std::collections::HashSet::new();
        for s in &FORMATS {
            assert_eq!(s.format.spec().name, s.name);
            assert!(names.insert(s.name), "{} twice", s.name);
        }
    }

    #[test]
    fn response_formats_by_mime_or_alias() {
        for (text, want) in [
            ("application/x-votable+xml", OutputFormat::Votable),
            ("VOTABLE", OutputFormat::Votable),
            ("text/xml", OutputFormat::Votable),
            (
                "application/x-votable+xml; serialization=BINARY2",
                OutputFormat::VotableBinary2,
            ),
            ("votable/b2", OutputFormat::VotableBinary2),
            ("text/csv;header=present", OutputFormat::Csv),
            ("application/fits", OutputFormat::Fits),
            ("application/x-parquet", OutputFormat::Parquet),
        ] {
            assert_eq!(
                OutputFormat::from_response_format(text),
                Some(want),
                "{text}"
            );
        }
        assert_eq!(OutputFormat::from_response_format("json"), None);
        assert_eq!(OutputFormat::from_response_format("table"), None);
    }

    #[test]
    fn extensions_announce_formats() {
        for (name, want) in [
            ("a.vot", Some(OutputFormat::Votable)),
            ("a.XML", Some(OutputFormat::Votable)),
            ("a.fts", Some(OutputFormat::Fits)),
            ("a.pq", Some(OutputFormat::Parquet)),
            ("a.txt", Some(OutputFormat::Table)),
            ("a.dat", None),
        ] {
            assert_eq!(
                OutputFormat::from_extension(Path::new(name)),
                want,
                "{name}"
            );
        }
    }
}
