//! `skyql serve`: the catalogue as a VO service (TAP 1.1, Simple Cone Search).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use crate::service::table_sources::TableSource;
use crate::service::{ServeOptions, ServiceConfig, serve};

/// Arguments of `skyql serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Catalogue directory, or an s3:// or http(s):// URL of one.
    #[arg(long, env = "SKYQL_CATALOG")]
    catalog: PathBuf,
    /// Address and port to listen on (loopback by default; port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    /// Limits and places (TOML; see docs/SERVICE.md).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Run the queries on the catalogue's tables on a cluster (df://HOST:PORT; a build with
    /// the `cluster` feature); TAP_SCHEMA and metadata queries are answered here.
    #[arg(long, value_name = "df://HOST:PORT")]
    cluster: Option<String>,
    /// Publish a table beside the catalogue, as `[SCHEMA.]NAME=PATH` (schema `ref` by
    /// default; repeatable): a HATS catalogue, Parquet, CSV/TSV, text, CDS, VOTable or
    /// FITS table, with a cone search at /scs/SCHEMA.NAME when it has positions; an
    /// s3:// or http(s):// URL for a HATS catalogue, Parquet or CSV file.
    #[arg(long = "table", value_name = "[SCHEMA.]NAME=PATH")]
    tables: Vec<String>,
    /// Serve HTTPS with this certificate chain (PEM), with --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

pub(crate) async fn run(args: ServeArgs) -> Result<()> {
    let config = match &args.config {
        Some(p) => ServiceConfig::from_file(p)?,
        None => ServiceConfig::default(),
    };
    let tables = args
        .tables
        .iter()
        .map(|t| TableSource::parse(t))
        .collect::<Result<Vec<_>>>()?;
    serve(ServeOptions {
        catalog: args.catalog,
        bind: args.bind,
        config,
        config_path: args.config,
        tables,
        cluster: args.cluster,
        tls: args.tls_cert.zip(args.tls_key),
    })
    .await
}
