//! Simple Cone Search 1.03 at `/scs/TABLE` for the tables with a main position (`stars`,
//! and the tables published beside the catalogue that have one, at `/scs/SCHEMA.NAME` or
//! `/scs/NAME` when the name is in one schema only):
//! `RA`, `DEC` and `SR` in degrees, `VERB` 1 (id and position), 2 (and the survey's
//! columns of interest) or 3 (every column); `SR=0` gives the metadata. The cone runs as
//! `cone_contains`, pruned by HEALPix. SCS 1.03 clients find the id and position by their
//! UCD1 (`ID_MAIN`, `POS_EQ_RA_MAIN`, `POS_EQ_DEC_MAIN`): those replace the UCD1+ of the
//! three fields. Errors are VOTables with `<INFO name="Error" .../>`.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::get;

use super::cone_path::Cone;
use super::params::Params;
use super::table_sources::ConeColumns;
use super::{
    AppState, Query, QueryError, result_options, run_query_spooled, spooled_response, xml_escape,
};
use crate::export::{ColumnOverride, OutputFormat};

/// Largest radius, in degrees.
const MAX_SR: f64 = 10.0;

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/scs/{table}", get(cone).post(cone))
}

fn scs_error(message: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<VOTABLE version=\"1.4\" xmlns=\"http://www.ivoa.net/xml/VOTable/v1.3\">\n<DESCRIPTION>skyql cone search</DESCRIPTION>\n<INFO name=\"Error\" value=\"{}\"/>\n<RESOURCE type=\"results\">\n<INFO name=\"QUERY_STATUS\" value=\"ERROR\">{0}</INFO>\n</RESOURCE>\n</VOTABLE>\n",
        xml_escape(message)
    );
    let mut r = Response::new(Body::from(body));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCS_MIME));
    r
}

/// The columns returned at each verbosity.
fn columns(verb: u32) -> &'static str {
    match verb {
        1 => "star_id, ra, dec",
        2 => "star_id, ra, dec, field, ccd, quarter, n_r, n_b, mean_mag_r, mean_mag_b",
        _ => "*",
    }
}

fn number(params: &Params, name: &str) -> Result<f64, String> {
    let v = params
        .get(name)
        .ok_or_else(|| format!("{name} is missing (RA, DEC and SR in degrees are required)"))?;
    v.trim()
        .parse::<f64>()
        .ok()
        .filter(|x| x.is_finite())
        .ok_or_else(|| format!("{name}={v} is not a number"))
}

async fn cone(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Arc<super::Caller>>,
    Path(table): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let snap = state.versions.current().await;
    // The tables the caller may read: a hidden one is answered as one that does not exist.
    let view = match snap.view(&caller.tables).await {
        Ok(v) => v,
        Err(e) => return scs_error(&state.public_message(&format!("{e:#}"))),
    };
    let stars = !view.hides(&format!("{}.stars", snap.schema));
    let target = if table == "stars" && stars {
        None
    } else {
        match published_cone(&view.cones, &table) {
            Some(t) => Some(t),
            None => {
                let mut served: Vec<String> =
                    stars.then(|| "stars".to_string()).into_iter().collect();
                served.extend(view.cones.iter().map(|(name, _)| name.clone()));
                let mut r = scs_error(&format!(
                    "no cone search on {table}: /scs/{} are served",
                    served.join(", /scs/")
                ));
                *r.status_mut() = StatusCode::NOT_FOUND;
                return r;
            }
        }
    };
    let params = Params::from_request(query.as_deref(), &body);
    let (ra, dec, sr) = match (
        number(&params, "RA"),
        number(&params, "DEC"),
        number(&params, "SR"),
    ) {
        (Ok(ra), Ok(dec), Ok(sr)) => (ra, dec, sr),
        (Err(e), ..) | (_, Err(e), _) | (.., Err(e)) => return scs_error(&e),
    };
    if !(0.0..=360.0).contains(&ra) || !(-90.0..=90.0).contains(&dec) {
        return scs_error(&format!(
            "RA={ra} DEC={dec}: RA must be in 0..360 and DEC in -90..90 degrees"
        ));
    }
    if !(0.0..=MAX_SR).contains(&sr) {
        return scs_error(&format!(
            "SR={sr}: the radius must be between 0 and {MAX_SR} degrees"
        ));
    }
    let verb = params
        .get("VERB")
        .and_then(|v| v.trim().parse::<u32>().ok())
        .unwrap_or(2)
        .clamp(1, 3);
    if let Some((name, columns)) = target {
        let fixed = snap
            .cone_path(&name)
            .is_some_and(|p| p.position() == [columns.ra.as_str(), columns.dec.as_str()]);
        return published_table_cone(&state, &caller, &name, &columns, (ra, dec, sr), verb, fixed)
            .await;
    }
    let schema = &snap.schema;
    let sql = if sr == 0.0 {
        format!("SELECT {} FROM {schema}.stars WHERE false", columns(verb))
    } else {
        format!(
            "SELECT {}, ang_sep(ra, dec, {ra}, {dec}) AS distance FROM {schema}.stars \
             WHERE cone_contains(ra, dec, {ra}, {dec}, {sr}) ORDER BY distance",
            columns(verb)
        )
    };
    let timeout = Duration::from_secs(state.config.sync_timeout_s);
    let mut options = result_options(&sql, state.config.hard_maxrec);
    options.column_overrides = SCS_UCD1
        .iter()
        .map(|(column, ucd)| ColumnOverride {
            name: column.to_string(),
            ucd: Some(ucd.to_string()),
            ..ColumnOverride::default()
        })
        .chain(std::iter::once(distance_column()))
        .collect();
    let cone = Cone {
        ra,
        dec,
        radius: sr,
        columns: match verb {
            1 | 2 => columns(verb).split(", ").map(str::to_string).collect(),
            _ => Vec::new(),
        },
        distance: true,
        limit: None,
    };
    let query = if sr > 0.0 {
        Query::Cone {
            table: format!("{schema}.stars").to_ascii_lowercase(),
            cone,
            sql: sql.clone(),
        }
    } else {
        Query::Sql(sql.clone())
    };
    answer(&state, &caller, &query, options, timeout).await
}

/// The published table of `/scs/NAME`: `NAME` qualified, or a name in one schema only.
fn published_cone(cones: &[(String, ConeColumns)], name: &str) -> Option<(String, ConeColumns)> {
    let name = name.to_ascii_lowercase();
    if let Some(found) = cones.iter().find(|(q, _)| *q == name) {
        return Some(found.clone());
    }
    let mut unqualified = cones
        .iter()
        .filter(|(q, _)| q.split_once('.').is_some_and(|(_, n)| n == name));
    match (unqualified.next(), unqualified.next()) {
        (Some(one), None) => Some(one.clone()),
        _ => None,
    }
}

/// A double-quoted SQL identifier.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The cone search of a table published beside the catalogue: VERB 1 gives its
/// identifier and position, 2 and 3 every column; the id and position columns get the
/// SCS 1.03 UCD1s. With `fixed`, the table's fixed cone plan answers it (a HATS table on
/// a local disk whose position is the cone search's).
async fn published_table_cone(
    state: &Arc<AppState>,
    caller: &super::Caller,
    table: &str,
    columns: &ConeColumns,
    (ra, dec, sr): (f64, f64, f64),
    verb: u32,
    fixed: bool,
) -> Response {
    let verb1: Vec<String> = columns
        .id
        .iter()
        .chain([&columns.ra, &columns.dec])
        .cloned()
        .collect();
    let selected = if verb == 1 {
        verb1
            .iter()
            .map(|c| quoted(c))
            .collect::<Vec<_>>()
            .join(", ")
    } else {
        "*".to_string()
    };
    let (r, d) = (quoted(&columns.ra), quoted(&columns.dec));
    let sql = if sr == 0.0 {
        format!("SELECT {selected} FROM {table} WHERE false")
    } else {
        format!(
            "SELECT {selected}, ang_sep({r}, {d}, {ra}, {dec}) AS distance FROM {table} \
             WHERE cone_contains({r}, {d}, {ra}, {dec}, {sr}) ORDER BY distance"
        )
    };
    let timeout = Duration::from_secs(state.config.sync_timeout_s);
    let mut options = result_options(&sql, state.config.hard_maxrec);
    let ucd1 = columns.id.iter().map(|c| (c.clone(), "ID_MAIN")).chain([
        (columns.ra.clone(), "POS_EQ_RA_MAIN"),
        (columns.dec.clone(), "POS_EQ_DEC_MAIN"),
    ]);
    options.column_overrides = ucd1
        .map(|(name, ucd)| ColumnOverride {
            name,
            ucd: Some(ucd.to_string()),
            ..ColumnOverride::default()
        })
        .chain(std::iter::once(distance_column()))
        .collect();
    let query = if fixed && sr > 0.0 {
        Query::Cone {
            table: table.to_string(),
            cone: Cone {
                ra,
                dec,
                radius: sr,
                columns: if verb == 1 { verb1 } else { Vec::new() },
                distance: true,
                limit: None,
            },
            sql,
        }
    } else {
        Query::Sql(sql)
    };
    answer(state, caller, &query, options, timeout).await
}

/// The `distance` column every cone's rows end with.
fn distance_column() -> ColumnOverride {
    ColumnOverride {
        name: "distance".into(),
        ucd: Some("pos.angDistance".into()),
        unit: Some("deg".into()),
        description: Some("Angular distance from the cone's centre".into()),
    }
}

/// A cone's rows as SCS 1.03 answers them.
async fn answer(
    state: &Arc<AppState>,
    caller: &super::Caller,
    query: &Query,
    options: crate::export::ExportOptions,
    timeout: Duration,
) -> Response {
    match run_query_spooled(
        state,
        caller,
        query,
        OutputFormat::Votable,
        options,
        timeout,
    )
    .await
    {
        Ok(result) => spooled_response(result, SCS_MIME),
        Err(e) => {
            let mut r = scs_error(&e.message());
            // SCS 1.03 answers a user's mistake with a VOTable error and HTTP 200; the
            // server's faults and overload keep their statuses.
            if !matches!(e, QueryError::BadRequest(_)) {
                *r.status_mut() = e.status();
            }
            if e.retry() {
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
            }
            r
        }
    }
}

/// The media type of cone search results (SCS 1.03).
const SCS_MIME: &str = "text/xml;content=x-votable";

/// The UCD1s SCS 1.03 clients look for, given to the id and position columns in place of
/// their UCD1+.
const SCS_UCD1: [(&str, &str); 3] = [
    ("star_id", "ID_MAIN"),
    ("ra", "POS_EQ_RA_MAIN"),
    ("dec", "POS_EQ_DEC_MAIN"),
];
