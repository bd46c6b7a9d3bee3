//! Checksums of every 64 KiB block of a data file, kept in the manifest, checked on every
//! read. Parquet's own page checksums are not written by the `parquet` crate (its writer
//! leaves the CRC field empty), and a flipped bit in a page usually decodes to another
//! number rather than an error. A query therefore reads a catalogue file only through
//! [`BlockChecksums::read`]: the blocks holding the bytes asked for are read whole and
//! checked before any byte is used, so damage is an error naming the file and the block,
//! never a different answer. The cost is the CRC-32 of the bytes read (hardware CRC, over
//! 10 GB/s) and at most two blocks more per range; `skyql bench checksums` measures it.

use std::fs::File;
use std::io::Read;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use bytes::Bytes;

/// The size of a checked block.
pub const BLOCK_BYTES: u64 = 64 * 1024;

/// A file's whole CRC-32 and its blocks' CRC-32s, computed in one read.
pub fn compute(path: &Path) -> Result<(u32, String)> {
    let mut file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut whole = crc32fast::Hasher::new();
    let mut blocks = String::new();
    let mut buf = vec![0u8; BLOCK_BYTES as usize];
    loop {
        let mut filled = 0;
        while filled < buf.len() {
            let n = file
                .read(&mut buf[filled..])
                .with_context(|| format!("cannot read {}", path.display()))?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        if filled == 0 {
            break;
        }
        whole.update(&buf[..filled]);
        blocks.push_str(&format!("{:08x}", crc32fast::hash(&buf[..filled])));
        if filled < buf.len() {
            break;
        }
    }
    Ok((whole.finalize(), blocks))
}

/// The block checksums of one file, as the manifest lists them.
#[derive(Debug, Clone)]
pub struct BlockChecksums {
    sums: Arc<[u32]>,
    /// The file's size.
    pub len: u64,
}

impl BlockChecksums {
    /// Parses the manifest's text (8 hex digits per block) for a file of `len` bytes; none
    /// when the text is absent (a file written before block checksums) or malformed.
    pub fn parse(text: &str, len: u64) -> Option<BlockChecksums> {
        let blocks = len.div_ceil(BLOCK_BYTES) as usize;
        if text.len() != blocks * 8 || !text.is_ascii() || blocks == 0 {
            return None;
        }
        let sums = (0..blocks)
            .map(|i| u32::from_str_radix(&text[i * 8..i * 8 + 8], 16).ok())
            .collect::<Option<Vec<u32>>>()?;
        Some(BlockChecksums {
            sums: sums.into(),
            len,
        })
    }

    /// The block-aligned byte range that holds `range`; an error for a range beyond the
    /// size the manifest gives the file.
    pub fn aligned(&self, range: &Range<u64>) -> std::result::Result<Range<u64>, String> {
        if range.end > self.len || range.start > range.end {
            return Err(format!(
                "bytes {}..{} asked of a file of {} bytes: the file changed size",
                range.start, range.end, self.len
            ));
        }
        let start = range.start / BLOCK_BYTES * BLOCK_BYTES;
        let end = range.end.div_ceil(BLOCK_BYTES) * BLOCK_BYTES;
        Ok(start..end.min(self.len))
    }

    /// Checks `bytes`, the content of `aligned` (from [`BlockChecksums::aligned`]), and
    /// returns the part that is `range`. The error names the first damaged block.
    pub fn check(
        &self,
        aligned: &Range<u64>,
        bytes: Bytes,
        range: &Range<u64>,
    ) -> std::result::Result<Bytes, String> {
        if bytes.len() as u64 != aligned.end - aligned.start {
            return Err(format!(
                "{} bytes read at {} where the manifest says {}: the file changed size",
                bytes.len(),
                aligned.start,
                aligned.end - aligned.start
            ));
        }
        let first = (aligned.start / BLOCK_BYTES) as usize;
        for (i, block) in bytes.chunks(BLOCK_BYTES as usize).enumerate() {
            let expected = self.sums.get(first + i).copied();
            if expected != Some(crc32fast::hash(block)) {
                return Err(damaged(aligned.start + i as u64 * BLOCK_BYTES, block.len()));
            }
        }
        let from = (range.start - aligned.start) as usize;
        let to = (range.end - aligned.start) as usize;
        Ok(bytes.slice(from..to))
    }

    /// Reads `range` of `file` (this file), checked.
    pub fn read(&self, file: &File, range: Range<u64>) -> std::result::Result<Bytes, String> {
        let aligned = self.aligned(&range)?;
        let mut buf = vec![0u8; (aligned.end - aligned.start) as usize];
        // Block by block, each checked while it is still in the processor's cache.
        let first = (aligned.start / BLOCK_BYTES) as usize;
        for (i, block) in buf.chunks_mut(BLOCK_BYTES as usize).enumerate() {
            let at = aligned.start + i as u64 * BLOCK_BYTES;
            file.read_exact_at(block, at)
                .map_err(|e| format!("cannot read: {e}"))?;
            if self.sums.get(first + i).copied() != Some(crc32fast::hash(block)) {
                return Err(damaged(at, block.len()));
            }
        }
        let from = (range.start - aligned.start) as usize;
        let to = (range.end - aligned.start) as usize;
        Ok(Bytes::from(buf).slice(from..to))
    }
}

/// The reason given for a block that does not match its checksum.
fn damaged(at: u64, len: usize) -> String {
    format!(
        "bytes {at}..{} do not match their checksum: the file is damaged (`skyql catalog verify` lists the damaged files)",
        at + len as u64
    )
}

/// A catalogue file read through its block checksums, for Parquet's synchronous reader.
pub struct CheckedFile {
    file: File,
    sums: BlockChecksums,
    name: String,
}

impl CheckedFile {
    /// Opens `path`, whose blocks `sums` lists; `name` is how errors call it.
    pub fn open(path: &Path, sums: BlockChecksums, name: String) -> Result<CheckedFile> {
        let file = File::open(path).with_context(|| format!("cannot open {name}"))?;
        Ok(CheckedFile { file, sums, name })
    }

    fn read(&self, range: Range<u64>) -> datafusion::parquet::errors::Result<Bytes> {
        self.sums.read(&self.file, range).map_err(|e| {
            datafusion::parquet::errors::ParquetError::General(format!("{}: {e}", self.name))
        })
    }
}

impl datafusion::parquet::file::reader::Length for CheckedFile {
    fn len(&self) -> u64 {
        self.sums.len
    }
}

impl datafusion::parquet::file::reader::ChunkReader for CheckedFile {
    type T = bytes::buf::Reader<Bytes>;

    fn get_read(&self, start: u64) -> datafusion::parquet::errors::Result<Self::T> {
        // Page headers are read from here; a block or two is enough for any header, and
        // the reader asks again with `get_bytes` for the page itself.
        let end = (start + 2 * BLOCK_BYTES).min(self.sums.len);
        Ok(bytes::Buf::reader(self.read(start..end)?))
    }

    fn get_bytes(&self, start: u64, length: usize) -> datafusion::parquet::errors::Result<Bytes> {
        self.read(start..start + length as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flipped_bit_is_caught_and_clean_reads_give_the_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let content: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&path, &content).unwrap();
        let (whole, text) = compute(&path).unwrap();
        assert_eq!(whole, crc32fast::hash(&content));
        let sums = BlockChecksums::parse(&text, content.len() as u64).unwrap();
        let file = File::open(&path).unwrap();
        for range in [0..1, 65_530..65_540, 150_000..200_000, 0..200_000] {
            let got = sums.read(&file, range.clone()).unwrap();
            assert_eq!(&got[..], &content[range.start as usize..range.end as usize]);
        }
        for offset in [0usize, 65_535, 65_536, 199_999] {
            let mut damaged = content.clone();
            damaged[offset] ^= 0x10;
            std::fs::write(&path, &damaged).unwrap();
            let file = File::open(&path).unwrap();
            // Any read whose blocks hold the flipped byte fails.
            let err = sums
                .read(&file, offset as u64..offset as u64 + 1)
                .unwrap_err();
            assert!(err.contains("do not match their checksum"), "{err}");
        }
        assert!(BlockChecksums::parse("zz", 10).is_none());
        assert!(BlockChecksums::parse("", 10).is_none());
    }
}
