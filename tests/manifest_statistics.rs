//! The file statistics the manifest hands to DataFusion (`engine::manifest_statistics`):
//! they say what DataFusion itself reads from each file's footer, and they let a query
//! skip a file without opening it.

mod common;

use std::path::Path;
use std::sync::Arc;

use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::object_store::ObjectStoreExt;
use datafusion::prelude::SessionContext;
use skyql::catalog::Catalog;
use skyql::engine::manifest_statistics::file_statistics;

use common::query_csv;

/// The file schema (without the partition columns) of the catalogue's table `name`.
fn file_schema(
    name: &str,
    partition_columns: &[String],
) -> datafusion::arrow::datatypes::SchemaRef {
    let full = skyql::schema::table_schema(name).expect("a catalogue table");
    let fields: Vec<_> = full
        .fields()
        .iter()
        .filter(|f| !partition_columns.contains(f.name()))
        .cloned()
        .collect();
    Arc::new(datafusion::arrow::datatypes::Schema::new(fields))
}

/// For every file of `table`: the statistics built from the manifest equal, column by
/// column, those DataFusion infers from the footer wherever the manifest has a range, and
/// are unknown elsewhere. Returns how many files had ranges.
fn check_table(catalog: &Catalog, table: &str) -> usize {
    let entry = &catalog.manifest.tables[table];
    let schema = file_schema(table, &entry.partition_columns);
    let ranged = skyql::schema::range_columns(table);
    let ctx = SessionContext::new();
    let state = ctx.state();
    let store = ctx
        .runtime_env()
        .object_store(ObjectStoreUrl::local_filesystem())
        .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut with_ranges = 0;
    for file in &entry.data_files {
        let path = catalog.data_file_path(entry, file);
        let location = datafusion::object_store::path::Path::from_absolute_path(
            std::fs::canonicalize(&path).unwrap(),
        )
        .unwrap();
        let inferred = runtime.block_on(async {
            let meta = store.head(&location).await.unwrap();
            ParquetFormat::default()
                .infer_stats_and_ordering(&state, &store, Arc::clone(&schema), &meta)
                .await
                .unwrap()
        });
        assert!(
            inferred.ordering.is_none(),
            "{}: the manifest claims no ordering",
            file.path
        );
        let ours = file_statistics(file, &schema);
        assert_eq!(ours.num_rows, inferred.statistics.num_rows, "{}", file.path);
        if file.has_ranges(ranged) {
            with_ranges += 1;
        }
        for (i, field) in schema.fields().iter().enumerate() {
            let (o, d) = (
                &ours.column_statistics[i],
                &inferred.statistics.column_statistics[i],
            );
            if file.column_ranges.contains_key(field.name()) {
                assert_eq!(o.min_value, d.min_value, "{} {}", file.path, field.name());
                assert_eq!(o.max_value, d.max_value, "{} {}", file.path, field.name());
                assert_eq!(o.null_count, d.null_count, "{} {}", file.path, field.name());
            }
        }
    }
    with_ranges
}

#[test]
fn the_manifest_states_what_the_footers_say() {
    let (_tmp, cat) =
        common::generated_catalog(&["--measurements", "200000", "--field-count", "2"]);
    let catalog = Catalog::open(&cat).unwrap();
    for table in ["measurements", "stars"] {
        let files = catalog.manifest.tables[table].data_files.len();
        assert!(files >= 2, "{table}: {files} files");
        assert_eq!(
            check_table(&catalog, table),
            files,
            "{table}: every file has its ranges"
        );
    }
}

#[test]
fn a_file_outside_the_queried_range_is_never_opened() {
    let (_tmp, cat) = two_ingests();
    let catalog = Catalog::open(&cat).unwrap();
    let entry = &catalog.manifest.tables["measurements"];
    let first = &entry.data_files[0];
    let second = entry
        .data_files
        .iter()
        .find(|f| {
            f.path != first.path && f.partition_value("field") == first.partition_value("field")
        })
        .expect("two measurement files in one field");
    let star = smallest_star(second);
    let sql = format!("SELECT count(*) AS n FROM measurements WHERE star_id = '{star}'");
    let before = query_csv(&cat, &sql)[0]["n"].clone();
    assert_ne!(before, "0");
    // Overwrite the first file's footer with zeros, keeping its size: a query that opened
    // it would fail to read it.
    let spoiled = catalog.data_file_path(entry, first);
    spoil_footer(&spoiled);
    assert_eq!(query_csv(&cat, &sql)[0]["n"], before);
    // The manifest's statistics do not hide the spoiled file from a star it holds: that
    // query opens it and fails.
    let out = common::run(&[
        "query",
        "--catalog",
        cat.to_str().unwrap(),
        &format!(
            "SELECT count(*) FROM measurements WHERE star_id = '{}'",
            smallest_star(first)
        ),
    ]);
    assert!(!out.status.success());
    // Once the file's modification time differs from the manifest's, its statistics are
    // read from its footer again (which fails here, naming the file).
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
    std::fs::File::options()
        .write(true)
        .open(&spoiled)
        .unwrap()
        .set_modified(later)
        .unwrap();
    let out = common::run(&["query", "--catalog", cat.to_str().unwrap(), &sql]);
    assert!(!out.status.success(), "the changed file was not read");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&first.path), "{stderr}");
}

/// The smallest star id of a measurements file, from its range in the manifest.
fn smallest_star(file: &skyql::catalog::manifest::DataFile) -> String {
    match &file.column_ranges["star_id"].min {
        skyql::catalog::manifest::RangeValue::Text(s) => s.clone(),
        other => panic!("star_id range {other:?}"),
    }
}

/// A catalogue of two ingests of MACHO field 1, two stars each: two measurement files in
/// one field, with star ids that do not overlap. (Two stars per file: DataFusion 55 turns
/// a column whose file statistics have min = max into a literal before its file-level
/// pruning, and then opens the file to find no rows.)
fn two_ingests() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let cat = tmp.path().join("cat");
    let ingests = [
        ["lc_1.3444.614.", "lc_1.3567.1310."],
        ["lc_1.4176.155.", "lc_1.4418.1930."],
    ];
    for (k, stars) in ingests.iter().enumerate() {
        let input = tmp.path().join(format!("input{k}"));
        std::fs::create_dir(&input).unwrap();
        for f in std::fs::read_dir(common::data("lightcurves/macho")).unwrap() {
            let f = f.unwrap();
            let name = f.file_name().to_string_lossy().to_string();
            if stars.iter().any(|s| name.starts_with(s)) {
                std::fs::copy(f.path(), input.join(f.file_name())).unwrap();
            }
        }
        common::ingest(&input, &cat);
    }
    (tmp, cat)
}

/// Zeros over the last 64 bytes of `path` (the footer's length and magic, and the end of
/// its metadata), its size and modification time unchanged: a damage only the checksum
/// (`catalog verify`) sees.
fn spoil_footer(path: &Path) {
    use std::io::{Seek, SeekFrom, Write};
    let modified = std::fs::metadata(path).unwrap().modified().unwrap();
    let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.seek(SeekFrom::End(-64)).unwrap();
    f.write_all(&[0u8; 64]).unwrap();
    f.set_modified(modified).unwrap();
    f.sync_all().unwrap();
}
