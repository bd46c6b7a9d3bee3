//! File formats, one folder (or file) per format with its reader and writer side by side:
//! VOTable (`votable/`), FITS binary tables (`fits/`), CSV, Parquet with the VOParquet
//! keys, CDS/VizieR catalogues (`cds`, read only), text catalogues as they come (`text`:
//! compressed, commented, tab/comma/whitespace-separated; read only);
//! [`columns`] is the column model every writer shares (structs flattened, Arrow
//! types mapped to VOTable/FITS datatypes, units and UCDs carried); [`typed`] formats
//! values as text; [`row_text`] is what the text formats whose rows stand alone (CSV,
//! TABLEDATA) offer the driver to encode batches on several threads. The streaming driver that feeds the writers is `crate::export`.

pub mod cds;
pub mod columns;
pub mod csv;
pub mod datatype;
pub mod fits;
pub mod parquet;
pub mod row_text;
pub mod text;
pub mod text_lines;
pub mod typed;
pub mod votable;
