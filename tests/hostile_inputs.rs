//! Hostile and odd inputs: names that are not UTF-8 or that cfitsio would read as its
//! own syntax, link loops, FIFOs, values outside physical sense, absurd WCS, expressions
//! deep enough to overflow a stack, results larger than the memory limit, outputs onto
//! special files or into the catalogue. Each gives a clear error or a counted rejection,
//! never a crash, a hang or a file written where it must not be.

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use common::{Skyql, data};

const EROS: &str = "lightcurves/eros2/lm0010n22323.time";

#[test]
fn names_that_are_not_utf8_or_look_like_cfitsio_syntax_are_ingested_losslessly() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let fits = data("fits/apogee_alta_sip.fits");
    for name in [&b"img\xff.fits"[..], b"img[1].fits", b"-dash.fits"] {
        std::fs::copy(&fits, input.join(OsStr::from_bytes(name))).unwrap();
    }
    std::fs::copy(
        data(EROS),
        input.join(OsStr::from_bytes(b"lm0010n22323\xfe.time")),
    )
    .unwrap();
    let cat = tmp.path().join("cat");
    let out = Skyql::new(["ingest"]).args([&input]).catalog(&cat).ok();
    assert!(out.contains("images written: 3"), "{out}");
    let paths = Skyql::new([
        "query",
        "--format",
        "csv",
        "SELECT path FROM images ORDER BY path",
    ])
    .catalog(&cat)
    .ok();
    assert!(paths.contains("img\\xFF.fits"), "{paths}");
    assert!(
        paths.contains("img[1].fits") && paths.contains("-dash.fits"),
        "{paths}"
    );
    let inputs = Skyql::new(["query", "--format", "csv", "SELECT path FROM inputs"])
        .catalog(&cat)
        .ok();
    assert!(inputs.contains("lm0010n22323\\xFE.time"), "{inputs}");
}

#[test]
fn link_loops_are_walked_once_and_fifos_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    std::fs::create_dir(&input).unwrap();
    std::fs::copy(data("fits/apogee_alta_sip.fits"), input.join("a.fits")).unwrap();
    std::os::unix::fs::symlink(".", input.join("loop")).unwrap();
    std::os::unix::fs::symlink(".", input.join("again")).unwrap();
    std::os::unix::fs::symlink(&input, input.join("up")).unwrap();
    let fifo = input.join("x.time");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let cat = tmp.path().join("cat");
    let started = std::time::Instant::now();
    let out = Skyql::new(["ingest"]).args([&input]).catalog(&cat).output();
    assert!(started.elapsed().as_secs() < 60, "the walk must end");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("images written: 1"), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("x.time") && stderr.contains("a FIFO"),
        "{stderr}"
    );
}

#[test]
fn values_outside_physical_sense_are_rejected_and_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(data(EROS)).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines.push("   400.0  1e39  0.02  15.0  0.03".into());
    lines.push("   401.0  14.8  -0.02  15.0  0.03".into());
    lines.push("   1e300  14.8  0.02  15.0  0.03".into());
    let file = tmp.path().join("lm0010n22323.time");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let cat = tmp.path().join("cat");
    let out = Skyql::new(["ingest"]).args([&file]).catalog(&cat).output();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Three lines of two values: the red values of the first two and all of the third.
    assert!(stdout.contains("+ rejected 4"), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("magnitude 1000000000000000000000000000000000000000"),
        "{stderr}"
    );
    assert!(stderr.contains("magnitude error -0.02"), "{stderr}");
    assert!(stderr.contains("outside 0..100000"), "{stderr}");
    let max = Skyql::new([
        "query",
        "--format",
        "csv",
        "SELECT MAX(mag) AS m FROM measurements",
    ])
    .catalog(&cat)
    .ok();
    let m: f64 = max.lines().nth(1).unwrap().parse().unwrap();
    assert!(m < 20.0, "{m}");
}

/// A copy of a real FITS file with one header value replaced (same width).
fn with_card(from: &Path, to: &Path, keyword: &str, value: &str) {
    let mut bytes = std::fs::read(from).unwrap();
    let key = format!("{keyword:<8}= ");
    let at = bytes
        .windows(key.len())
        .position(|w| w == key.as_bytes())
        .unwrap();
    let field = format!("{value:>20}");
    bytes[at + 10..at + 30].copy_from_slice(field.as_bytes());
    std::fs::write(to, bytes).unwrap();
}

/// Asserts that the first ingest of `cat` rejected `file` for `reason`.
fn assert_rejected(cat: &Path, file: &str, reason: &str) {
    let rejects = std::fs::read_to_string(cat.join("rejects/ingest-000001.tsv")).unwrap();
    assert!(
        rejects
            .lines()
            .any(|l| l.contains(file) && l.contains(reason)),
        "{rejects}"
    );
}

/// The number of images of `cat`, as the CLI answers it.
fn images(cat: &Path) -> String {
    let csv = Skyql::new([
        "query",
        "--format",
        "csv",
        "SELECT COUNT(*) AS n FROM images",
    ])
    .catalog(cat)
    .ok();
    csv.lines().nth(1).unwrap_or_default().to_string()
}

#[test]
fn absurd_image_sizes_are_rejected_with_their_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("input");
    std::fs::create_dir(&input).unwrap();
    // 2^62 x 2^62 pixels: the product overflows 64 bits.
    let half = input.join("huge.fits");
    with_card(
        &data("fits/apogee_alta_sip.fits"),
        &half,
        "NAXIS1",
        "4611686018427387904",
    );
    with_card(
        &half,
        &input.join("huge.fits"),
        "NAXIS2",
        "4611686018427387904",
    );
    // A size that fits in 64 bits but not in the file.
    with_card(
        &data("fits/apogee_alta_sip.fits"),
        &input.join("big.fits"),
        "NAXIS1",
        "1000000000",
    );
    std::fs::copy(data("fits/apogee_alta_sip.fits"), input.join("good.fits")).unwrap();
    let cat = tmp.path().join("cat");
    let out = Skyql::new(["ingest"]).args([&input]).catalog(&cat).output();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_rejected(&cat, "huge.fits", "no file can hold");
    assert_rejected(&cat, "big.fits", "truncated");
    assert_eq!(images(&cat), "1", "the good image is ingested");
}

#[test]
fn compressed_files_are_known_by_their_content_and_never_expanded_in_memory() {
    use std::io::Write;
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("input");
    std::fs::create_dir(&input).unwrap();
    let gzip = |bytes: &[u8]| {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(bytes).unwrap();
        gz.finish().unwrap()
    };
    // A gzip file named .fits (cfitsio would expand it whole in memory), beside a valid
    // image: the first is rejected with its reason, the second ingested.
    let image = std::fs::read(data("fits/apogee_alta_sip.fits")).unwrap();
    std::fs::write(input.join("bomb.fits"), gzip(&image)).unwrap();
    std::fs::write(input.join("good.fits"), &image).unwrap();
    let cat = tmp.path().join("cat");
    let out = Skyql::new(["ingest"]).args([&input]).catalog(&cat).output();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_rejected(&cat, "bomb.fits", "gzip-compressed by its content");
    assert_eq!(images(&cat), "1", "the good image is ingested");
    // A gzip text catalogue under a plain .csv name is read by its content.
    let csv = tmp.path().join("list.csv");
    std::fs::write(&csv, gzip(b"id,ra\n1,10.5\n2,11.5\n")).unwrap();
    let arg = format!("t={}", csv.display());
    let sum = Skyql::new([
        "query",
        "--format",
        "csv",
        "--table",
        &arg,
        "SELECT SUM(ra) AS s FROM t",
    ])
    .ok();
    assert_eq!(sum.lines().nth(1), Some("22.0"), "{sum}");
    // A FITS table given compressed to --table is refused with its reason.
    let fits_gz = tmp.path().join("t.fits");
    std::fs::write(&fits_gz, gzip(&image)).unwrap();
    let arg = format!("t={}", fits_gz.display());
    let out = Skyql::new(["query", "--table", &arg, "SELECT 1"]).output();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("gzip-compressed by its content") && stderr.contains("gunzip"),
        "{stderr}"
    );
}

#[test]
fn a_declination_beyond_the_pole_gives_no_position() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("bad.fits");
    with_card(&data("fits/apogee_alta_sip.fits"), &file, "CRVAL2", "95.0");
    let cat = tmp.path().join("cat");
    let out = Skyql::new(["ingest"]).args([&file]).catalog(&cat).output();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("CRVAL2") && stderr.contains("not a latitude"),
        "{stderr}"
    );
    let centre = Skyql::new(["query", "--format", "csv", "SELECT dec_center FROM images"])
        .catalog(&cat)
        .ok();
    assert_eq!(centre.lines().nth(1), Some(""), "{centre}");
    let pix = Skyql::new([
        "query",
        "--format",
        "csv",
        "SELECT pix2sky(1.0, 1.0, wcs)['dec'] AS d FROM images",
    ])
    .catalog(&cat)
    .ok();
    assert_eq!(pix.lines().nth(1), Some(""), "{pix}");
}

#[test]
fn deep_expressions_are_refused_with_a_message_never_a_crash() {
    for op in [" OR ", " + "] {
        let terms = vec!["1 = 1"; 5000].join(op);
        let sql = if op == " OR " {
            format!("SELECT COUNT(*) FROM (VALUES (1)) t(x) WHERE {terms}")
        } else {
            format!("SELECT {}", vec!["1"; 5000].join(op))
        };
        let out = Skyql::new(["query", "--format", "csv"])
            .args([&sql])
            .output();
        assert!(
            out.status.code() == Some(1),
            "{op}: {:?} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("nests more than 500 levels"), "{err}");
    }
}

#[test]
fn huge_select_lists_and_values_are_refused_at_once_with_their_limit() {
    let started = std::time::Instant::now();
    // 5,000 items: one command-line argument holds at most 128 KiB (the service's test
    // sends 30,000).
    let items = (0..5_000)
        .map(|i| format!("{i} AS c{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    // Plans whose optimisation grows faster than their size: UNION arms, joined tables.
    let unions = (0..3_000)
        .map(|i| format!("SELECT {i} AS x"))
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let tables = (0..300)
        .map(|i| format!("(SELECT {i} AS x{i}) t{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    for (sql, words) in [
        (format!("SELECT {items}"), "2000 accepted"),
        (unions, "200 relations"),
        (format!("SELECT COUNT(*) AS n FROM {tables}"), "200 relations"),
        ("SELECT repeat('x', 2000000000) AS v".to_string(), "64 MiB"),
        ("SELECT length(repeat('ab', 1000000000)) AS n".to_string(), "64 MiB"),
        ("SELECT lpad('x', 2000000000) AS v".to_string(), "64 MiB"),
        ("SELECT array_repeat(1, 100000000) AS v".to_string(), "64 MiB"),
        (
            "SELECT length(concat(repeat(CAST(value AS VARCHAR), 40000000), repeat(CAST(value AS VARCHAR), 40000000))) AS n FROM generate_series(1, 2)".to_string(),
            "concat would build",
        ),
        (
            // `||` doubles a value at each level: the operator has concat's limits.
            "SELECT length(v || v || v) AS n FROM (SELECT repeat('x', n) AS v FROM (VALUES (30000000)) t(n))".to_string(),
            "the || operator would build",
        ),
        (
            // On arrays DataFusion's planner makes `||` an array_concat: wrapped too.
            "SELECT cardinality(a || a) AS n FROM (SELECT array_agg(value) AS a FROM generate_series(1, 5000000))".to_string(),
            "array_concat would build",
        ),
        (
            // A 60 MB constant copied to 40 rows used to panic ("offset overflow").
            "SELECT length(string_agg(repeat('x', 60000000), '')) AS n FROM generate_series(1, 40)".to_string(),
            "256 KiB a constant may hold",
        ),
        (
            "SELECT length(repeat(CAST(value AS VARCHAR), 100000)) AS n FROM generate_series(1, 10000)".to_string(),
            "128 MiB one call may build",
        ),
    ] {
        // With a memory limit the process used to abort in the allocator.
        let out = Skyql::new(["query", "--memory-limit", "512M", "--format", "csv"])
            .args([&sql])
            .output();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{}: {err}", &sql[..40.min(sql.len())]);
        assert!(err.contains(words), "{err}");
    }
    assert!(started.elapsed().as_secs() < 30, "{:?}", started.elapsed());
    // Ordinary calls still answer.
    let out = Skyql::new([
        "query",
        "--format",
        "csv",
        "SELECT repeat('ab', 3) AS r, lpad('7', 3, '0') AS p, cardinality(array_repeat(1, 4)) AS n, \
         'a' || 'b' AS c, 'a' || NULL IS NULL AS null_wins, 1 || 'x' AS t, cardinality([1, 2] || [3]) AS l",
    ])
    .ok();
    assert_eq!(out, "r,p,n,c,null_wins,t,l\nababab,007,4,ab,true,1x,3\n");
}

/// The paths in the directory `dir`, sorted.
fn entries(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    paths.sort();
    paths
}

#[test]
fn files_the_manifest_does_not_list_are_never_read() {
    let (_tmp, cat) = common::generated_catalog(&["--stars", "3000", "--measurements", "20000"]);
    let count = |sql: &str| {
        let csv = Skyql::new(["query", "--format", "csv", sql])
            .catalog(&cat)
            .ok();
        csv.lines().nth(1).unwrap().to_string()
    };
    // Sums, not counts: a COUNT(*) is answered from the manifest's row counts.
    let sql = "SELECT (SELECT SUM(ra) FROM stars) AS s, (SELECT SUM(mag) FROM measurements) AS m, \
               (SELECT COUNT(DISTINCT field) FROM measurements) AS f";
    let before = count(sql);
    // A valid Parquet file of the table dropped beside its files, and a whole new field.
    let version = entries(&cat)
        .into_iter()
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with('v'))
        .unwrap();
    let field = entries(&version.join("measurements")).remove(0);
    let file = entries(&field).remove(0);
    std::fs::copy(&file, field.join("dropped.parquet")).unwrap();
    let evil = version.join("measurements/field=zz999");
    std::fs::create_dir(&evil).unwrap();
    std::fs::copy(&file, evil.join("part-000001-0000.parquet")).unwrap();
    let stars = entries(&version.join("stars")).remove(0);
    let star_file = entries(&stars).remove(0);
    std::fs::copy(&star_file, stars.join("dropped.parquet")).unwrap();
    assert_eq!(count(sql), before, "the unlisted files were read");
    // verify names them; a write refuses to carry them into the next version.
    let out = Skyql::new(["catalog", "verify"]).catalog(&cat).output();
    let report = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{report}");
    for name in ["dropped.parquet", "field=zz999"] {
        assert!(report.contains(name), "{report}");
    }
    let input = data("fits/apogee_alta_sip.fits");
    let err = Skyql::new(["ingest"]).args([&input]).catalog(&cat).fails();
    assert!(
        err.contains("does not list") && err.contains("move it out"),
        "{err}"
    );
    // A partition directory replaced by a link (to a copy outside the catalogue) is
    // refused by every command, verify included.
    std::fs::remove_dir_all(&evil).unwrap();
    std::fs::remove_file(field.join("dropped.parquet")).unwrap();
    std::fs::remove_file(stars.join("dropped.parquet")).unwrap();
    let outside = cat.parent().unwrap().join("outside");
    common::copy_tree(&field, &outside);
    std::fs::remove_dir_all(&field).unwrap();
    std::os::unix::fs::symlink(&outside, &field).unwrap();
    let err = Skyql::new(["query", "SELECT SUM(mag) FROM measurements"])
        .catalog(&cat)
        .fails();
    assert!(err.contains("not a directory of the catalogue"), "{err}");
    let out = Skyql::new(["catalog", "verify"]).catalog(&cat).output();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("a link"));
}

#[test]
fn links_where_the_catalogue_writes_are_refused_or_removed() {
    let (_tmp, cat) = common::generated_catalog(&["--stars", "300", "--measurements", "2000"]);
    let elsewhere = cat.parent().unwrap().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let input = data("fits/apogee_alta_sip.fits");
    // A `rejects` link: the ingest writes nothing through it.
    let rejects = cat.join("rejects");
    let _ = std::fs::remove_dir_all(&rejects);
    std::os::unix::fs::symlink(&elsewhere, &rejects).unwrap();
    let err = Skyql::new(["ingest"]).args([&input]).catalog(&cat).fails();
    assert!(err.contains("rejects") && err.contains("a link"), "{err}");
    assert_eq!(
        std::fs::read_dir(&elsewhere).unwrap().count(),
        0,
        "written outside"
    );
    std::fs::remove_file(&rejects).unwrap();
    // A link with the name of a staging directory: removed (never followed) by the next
    // write and by repair.
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cat.join("manifest.json")).unwrap()).unwrap();
    let next = manifest["version"].as_u64().unwrap() + 1;
    let staging = cat.join(format!(".v{next:06}.partial"));
    std::os::unix::fs::symlink(&elsewhere, &staging).unwrap();
    let out = Skyql::new(["catalog", "repair"]).catalog(&cat).ok();
    assert!(out.contains(".partial"), "{out}");
    assert!(std::fs::symlink_metadata(&staging).is_err());
    std::os::unix::fs::symlink(&elsewhere, &staging).unwrap();
    Skyql::new(["ingest"]).args([&input]).catalog(&cat).ok();
    assert!(elsewhere.exists() && std::fs::read_dir(&elsewhere).unwrap().count() == 0);
    // A version directory replaced by a link: verify refuses it as the others do.
    let version = cat.join(format!("v{next:06}"));
    let moved = cat.parent().unwrap().join("moved");
    std::fs::rename(&version, &moved).unwrap();
    std::os::unix::fs::symlink(&moved, &version).unwrap();
    for err in [
        Skyql::new(["catalog", "verify"]).catalog(&cat).fails(),
        Skyql::new(["query", "SELECT 1"]).catalog(&cat).fails(),
    ] {
        assert!(err.contains("not a directory of the catalogue"), "{err}");
    }
}

#[test]
fn moderately_deep_expressions_still_run() {
    let sql = format!("SELECT {} AS n", vec!["1"; 200].join(" + "));
    let out = Skyql::new(["query", "--format", "csv"]).args([&sql]).ok();
    assert_eq!(out, "n\n200\n");
}

#[test]
fn a_large_result_as_a_table_stays_within_the_memory_limit() {
    let out = Skyql::new([
        "query",
        "--memory-limit",
        "32M",
        "SELECT a.value AS a, b.value AS b FROM generate_series(1, 2000) a CROSS JOIN generate_series(1, 2000) b",
    ])
    .ok();
    assert!(
        out.contains("4000000 rows (the first 20 and the last 20 shown"),
        "{}",
        &out[out.len().saturating_sub(300)..]
    );
    assert!(out.contains("... 3999960 rows not shown ..."));
}

#[test]
fn outputs_onto_special_files_stream_into_them_and_never_replace_them() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("out.fifo");
    common::mkfifo(&fifo);
    let reader_path = fifo.clone();
    let reader = std::thread::spawn(move || std::fs::read_to_string(reader_path).unwrap());
    Skyql::new(["query", "--format", "csv", "--output"])
        .args([&fifo])
        .args(["SELECT 1 AS n"])
        .ok();
    assert_eq!(reader.join().unwrap(), "n\n1\n");
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    for format in ["csv", "votable", "fits", "parquet"] {
        Skyql::new([
            "query",
            "--format",
            format,
            "--output",
            "/dev/null",
            "SELECT 1 AS n",
        ])
        .ok();
        let meta = std::fs::metadata("/dev/null").unwrap();
        assert!(
            meta.file_type().is_char_device(),
            "/dev/null replaced by {format}"
        );
    }
}

#[test]
fn an_output_fifo_without_a_reader_or_with_a_stalled_one_still_answers_signals() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("out.csv");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    // No reader at all; then a reader that reads nothing of a result larger than the
    // pipe holds (the write waits for room).
    let cases = [
        (libc::SIGTERM, false),
        (libc::SIGINT, false),
        (libc::SIGTERM, true),
        (libc::SIGINT, true),
    ];
    for (signal, stalled_reader) in cases {
        let mut child = common::skyql()
            .args([
                "query",
                "SELECT value, repeat('x', 100) AS pad FROM generate_series(1, 1000000)",
                "--output",
            ])
            .arg(&fifo)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let _reader = stalled_reader.then(|| {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&fifo)
                .unwrap()
        });
        std::thread::sleep(std::time::Duration::from_millis(1500));
        // SAFETY: a process this test started.
        unsafe { libc::kill(child.id() as i32, signal) };
        let started = std::time::Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break Some(s);
            }
            if started.elapsed().as_secs() >= 5 {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        let status = status.unwrap_or_else(|| {
            panic!("the command ignored the signal for 5 s (stalled reader: {stalled_reader})")
        });
        assert!(!status.success());
    }
    use std::os::unix::fs::FileTypeExt;
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo(),
        "the FIFO stays"
    );
}

#[test]
fn queries_never_write_into_the_catalogue() {
    let (_tmp, cat) = common::ingested(&data(EROS));
    let manifest = std::fs::read(cat.join("manifest.json")).unwrap();
    let err = Skyql::new(["query", "SELECT 1 AS n", "--output"])
        .args([cat.join("manifest.json")])
        .catalog(&cat)
        .fails();
    assert!(err.contains("inside the catalogue"), "{err}");
    let into = cat.join("v000001/stolen.csv");
    let err = Skyql::new(["query"])
        .args([format!("COPY (SELECT 1 AS n) TO '{}'", into.display())])
        .catalog(&cat)
        .fails();
    assert!(err.contains("inside the catalogue"), "{err}");
    assert!(!into.exists());
    assert_eq!(std::fs::read(cat.join("manifest.json")).unwrap(), manifest);
}

#[test]
fn the_output_format_follows_the_extension() {
    let tmp = tempfile::tempdir().unwrap();
    let vot = tmp.path().join("out.vot");
    Skyql::new(["query", "SELECT 1 AS n", "--output"])
        .args([&vot])
        .ok();
    assert!(std::fs::read_to_string(&vot).unwrap().contains("<VOTABLE"));
    let err = Skyql::new(["query", "SELECT 1 AS n", "--output"])
        .args([tmp.path().join("out.xyz")])
        .fails();
    assert!(
        err.contains("cannot tell the format") && err.contains("--format"),
        "{err}"
    );
    let err = Skyql::new(["query", "SELECT 1 AS n", "--output"])
        .args([tmp.path().join("nodir/out.csv")])
        .fails();
    assert!(
        err.contains("does not exist") && !err.contains("partial"),
        "{err}"
    );
}

#[test]
fn an_output_root_inside_the_catalogue_is_refused() {
    let (_tmp, cat) = common::generated_catalog(&["--stars", "300", "--measurements", "2000"]);
    let manifest = std::fs::read(cat.join("manifest.json")).unwrap();
    for (root, overwrite) in [
        (cat.clone(), false),
        (cat.join("v000001"), false),
        (cat.join("new/deeper"), false),
        (cat.parent().unwrap().to_path_buf(), true),
    ] {
        let mut cmd = Skyql::new(["query", "--output-root"]).args([&root]);
        if overwrite {
            cmd = cmd.args(["--overwrite"]);
        }
        let err = cmd.args(["SELECT 1"]).catalog(&cat).fails();
        assert!(err.contains("--output-root"), "{err}");
    }
    // Its products/ (the default) and a directory beside it are fine.
    for root in [cat.join("products/mine"), cat.parent().unwrap().join("out")] {
        Skyql::new(["query", "--output-root"])
            .args([&root])
            .args(["SELECT 1"])
            .catalog(&cat)
            .ok();
    }
    assert_eq!(std::fs::read(cat.join("manifest.json")).unwrap(), manifest);
}

#[test]
fn image_outputs_create_nothing_outside_the_root() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, root.join("link")).unwrap();
    let fits = data("fits/apogee_alta_sip.fits");
    let out = Skyql::new(["query", "--format", "csv", "--output-root"])
        .args([&root])
        .args([format!(
            "SELECT cutout(p, s['ra'], s['dec'], 8, 'link/sub/deeper/x.fits') AS c FROM \
             (SELECT '{0}' AS p, pix2sky(20.0, 20.0, wcs_from_fits('{0}')) AS s)",
            fits.display()
        )])
        .output();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("leads out of the output root"), "{stderr}");
    assert!(
        !outside.join("sub").exists(),
        "a directory was made outside the root"
    );
    // The same name inside the root works.
    let out = Skyql::new(["query", "--format", "csv", "--output-root"])
        .args([&root])
        .args([format!(
            "SELECT cutout(p, s['ra'], s['dec'], 8, 'in/sub/x.fits') AS c FROM \
             (SELECT '{0}' AS p, pix2sky(20.0, 20.0, wcs_from_fits('{0}')) AS s)",
            fits.display()
        )])
        .ok();
    assert!(out.contains("x.fits"), "{out}");
    assert!(root.join("in/sub/x.fits").is_file());
}

#[test]
fn an_interrupted_export_leaves_no_partial_file() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("big.csv");
    let spill = tmp.path().join("spill");
    let child = Skyql::new(["query", "--memory-limit", "16M", "--spill-dir"])
        .args([&spill])
        .args(["--output"])
        .args([&out])
        .args(["SELECT value FROM generate_series(1, 2000000000) ORDER BY value DESC"])
        .spawn();
    // Wait until the export has begun (its spill files or the partial file exist).
    let started = std::time::Instant::now();
    while started.elapsed().as_secs() < 30 {
        let busy = std::fs::read_dir(tmp.path()).unwrap().count() > 1
            || std::fs::read_dir(&spill).is_ok_and(|mut d| d.next().is_some());
        if busy {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    let pid = child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let done = child.wait_with_output().unwrap();
    assert_eq!(done.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert!(stderr.contains("interrupted"), "{stderr}");
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n != "spill")
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let spilled: Vec<_> = std::fs::read_dir(&spill)
        .map(|d| d.count())
        .into_iter()
        .collect();
    assert!(
        spilled.iter().all(|&n| n == 0),
        "spill files left: {spilled:?}"
    );
}

#[test]
fn spilling_stays_within_its_cap_and_says_which_option_raises_it() {
    let tmp = tempfile::tempdir().unwrap();
    let err = Skyql::new([
        "query",
        "--memory-limit",
        "16M",
        "--spill-limit",
        "1M",
        "--spill-dir",
    ])
    .args([tmp.path().join("spill")])
    .args(["--format", "csv", "--output"])
    .args([tmp.path().join("sorted.csv")])
    .args(["SELECT value FROM generate_series(1, 3000000) ORDER BY value DESC"])
    .fails();
    assert!(err.contains("--spill-limit"), "{err}");
    assert_eq!(err.matches("The used disk space").count(), 1, "{err}");
    assert!(!tmp.path().join("sorted.csv").exists());
}

#[test]
fn a_star_is_never_placed_by_an_image_that_does_not_cover_it() {
    // Demo images of field lm001 (64-pixel CCDs), then the real EROS-2 star lm0010n22323,
    // whose reference pixel (924.7, 603.8) lies far outside those images.
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raw");
    common::generate_small(&raw, "lm001", 1, 4, &[]);
    let cat = tmp.path().join("cat");
    Skyql::new(["ingest"])
        .args([raw.join("images")])
        .catalog(&cat)
        .ok();
    let out = Skyql::new(["ingest"])
        .args([data(EROS)])
        .catalog(&cat)
        .output();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("outside the reference image"), "{stderr}");
    let row = Skyql::new([
        "query",
        "--format",
        "csv",
        "SELECT ra, dec, position_source FROM stars WHERE star_id = 'lm0010n22323'",
    ])
    .catalog(&cat)
    .ok();
    assert_eq!(row.lines().nth(1), Some(",,"), "{row}");
}
