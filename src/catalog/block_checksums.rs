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

/// A file's whole CRC-32 and its blocks' CRC-32s (the manifest's `crc32` and
/// `block_crc32`), in one read and one pass of the CRC: the whole file's is combined from
/// its blocks'.
pub fn compute(path: &Path) -> Result<(u32, String)> {
    let mut file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut sums = Sums::default();
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
        if filled > 0 {
            sums.add(&buf[..filled]);
        }
        if filled < buf.len() {
            return Ok(sums.finish());
        }
    }
}

/// [`compute`] of a file's content held in memory (`catalog verify`).
pub fn compute_bytes(bytes: &[u8]) -> (u32, String) {
    let mut sums = Sums::default();
    for block in bytes.chunks(BLOCK_BYTES as usize) {
        sums.add(block);
    }
    sums.finish()
}

/// The whole CRC and the block CRCs, block after block.
#[derive(Default)]
struct Sums {
    whole: crc32fast::Hasher,
    blocks: String,
}

impl Sums {
    fn add(&mut self, block: &[u8]) {
        let mut h = crc32fast::Hasher::new();
        h.update(block);
        self.whole.combine(&h);
        self.blocks.push_str(&format!("{:08x}", h.finalize()));
    }

    fn finish(self) -> (u32, String) {
        (self.whole.finalize(), self.blocks)
    }
}

/// Where `actual` (block CRCs as [`compute`] gives them) first differs from `expected`
/// (the manifest's), said as [`BlockChecksums::read`] says it; none when they agree.
pub fn first_difference(actual: &str, expected: &str, len: u64) -> Option<String> {
    if actual == expected {
        return None;
    }
    let block = actual
        .as_bytes()
        .chunks(8)
        .zip(expected.as_bytes().chunks(8))
        .position(|(a, e)| a != e)
        .unwrap_or(actual.len().min(expected.len()) / 8) as u64;
    let at = block * BLOCK_BYTES;
    Some(damaged(
        at,
        (len.saturating_sub(at)).min(BLOCK_BYTES) as usize,
    ))
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

    /// Reads `range` of `file` (this file), checked.
    pub fn read(&self, file: &File, range: Range<u64>) -> std::result::Result<Bytes, String> {
        let read = self.read_by(range, |block, at| {
            file.read_exact_at(block, at).map(|_| true)
        })?;
        read.ok_or_else(|| "cannot read: the read was not made".to_string())
    }

    /// [`BlockChecksums::read`] of the bytes the page cache holds, on the calling thread
    /// ([`super::page_cache_read`]): none when some are not cached.
    pub fn read_cached(
        &self,
        file: &File,
        range: Range<u64>,
    ) -> std::result::Result<Option<Bytes>, String> {
        self.read_by(range, |block, at| {
            Ok(super::page_cache_read::read_exact_cached(file, block, at))
        })
    }

    /// Reads `range`, the blocks holding it by `read_at` (which fills a block at an offset,
    /// or says `false` when it cannot now: then none), each checked.
    fn read_by(
        &self,
        range: Range<u64>,
        mut read_at: impl FnMut(&mut [u8], u64) -> std::io::Result<bool>,
    ) -> std::result::Result<Option<Bytes>, String> {
        let aligned = self.aligned(&range)?;
        let mut buf = vec![0u8; (aligned.end - aligned.start) as usize];
        // Block by block, each checked while it is still in the processor's cache.
        let first = (aligned.start / BLOCK_BYTES) as usize;
        for (i, block) in buf.chunks_mut(BLOCK_BYTES as usize).enumerate() {
            let at = aligned.start + i as u64 * BLOCK_BYTES;
            if !read_at(block, at).map_err(|e| format!("cannot read: {e}"))? {
                return Ok(None);
            }
            if self.sums.get(first + i).copied() != Some(crc32fast::hash(block)) {
                return Err(damaged(at, block.len()));
            }
        }
        let from = (range.start - aligned.start) as usize;
        let to = (range.end - aligned.start) as usize;
        Ok(Some(Bytes::from(buf).slice(from..to)))
    }
}

impl BlockChecksums {
    /// `range` out of `data`, the bytes of `self.aligned(&range)` read from a remote
    /// store, each block checked first.
    pub fn check_aligned(
        &self,
        data: Bytes,
        range: Range<u64>,
    ) -> std::result::Result<Bytes, String> {
        let aligned = self.aligned(&range)?;
        if data.len() as u64 != aligned.end - aligned.start {
            return Err(format!(
                "bytes {}..{} asked, {} read: the file changed size",
                aligned.start,
                aligned.end,
                data.len()
            ));
        }
        let first = (aligned.start / BLOCK_BYTES) as usize;
        for (i, block) in data.chunks(BLOCK_BYTES as usize).enumerate() {
            if self.sums.get(first + i).copied() != Some(crc32fast::hash(block)) {
                return Err(damaged(aligned.start + i as u64 * BLOCK_BYTES, block.len()));
            }
        }
        let from = (range.start - aligned.start) as usize;
        let to = (range.end - aligned.start) as usize;
        Ok(data.slice(from..to))
    }
}

/// The reason given for a block that does not match its checksum.
fn damaged(at: u64, len: usize) -> String {
    format!(
        "bytes {at}..{} do not match their checksum: the file is damaged (`skyql catalog verify` lists the damaged files)",
        at + len as u64
    )
}

/// A catalogue file for Parquet's synchronous reader (the service's cone path), read
/// through its block checksums when the manifest has them (plain for a file written
/// before them).
pub struct CheckedFile {
    file: File,
    sums: Option<BlockChecksums>,
    len: u64,
    name: String,
}

impl CheckedFile {
    /// Opens `path`, whose blocks `sums` lists; `name` is how errors call it.
    pub fn open(path: &Path, sums: Option<BlockChecksums>, name: String) -> Result<CheckedFile> {
        let file = File::open(path).with_context(|| format!("cannot open {name}"))?;
        let len = match &sums {
            Some(s) => s.len,
            None => file
                .metadata()
                .with_context(|| format!("cannot open {name}"))?
                .len(),
        };
        Ok(CheckedFile {
            file,
            sums,
            len,
            name,
        })
    }

    fn read(&self, range: Range<u64>) -> datafusion::parquet::errors::Result<Bytes> {
        let read = match &self.sums {
            Some(sums) => sums.read(&self.file, range),
            None => {
                let mut buf = vec![0u8; (range.end - range.start) as usize];
                self.file
                    .read_exact_at(&mut buf, range.start)
                    .map(|_| Bytes::from(buf))
                    .map_err(|e| format!("cannot read: {e}"))
            }
        };
        read.map_err(|e| {
            datafusion::parquet::errors::ParquetError::General(format!("{}: {e}", self.name))
        })
    }
}

impl datafusion::parquet::file::reader::Length for CheckedFile {
    fn len(&self) -> u64 {
        self.len
    }
}

impl datafusion::parquet::file::reader::ChunkReader for CheckedFile {
    type T = bytes::buf::Reader<Bytes>;

    fn get_read(&self, start: u64) -> datafusion::parquet::errors::Result<Self::T> {
        // Page headers are read from here; a block or two is enough for any header, and
        // the reader asks again with `get_bytes` for the page itself.
        let end = (start + 2 * BLOCK_BYTES).min(self.len);
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
        assert_eq!(compute_bytes(&content), (whole, text.clone()));
        let sums = BlockChecksums::parse(&text, content.len() as u64).unwrap();
        let file = File::open(&path).unwrap();
        for range in [0..1, 65_530..65_540, 150_000..200_000, 0..200_000] {
            let got = sums.read(&file, range.clone()).unwrap();
            assert_eq!(&got[..], &content[range.start as usize..range.end as usize]);
            // From the page cache, on this thread: the same bytes (none only where the file
            // system cannot read without waiting).
            if let Some(cached) = sums.read_cached(&file, range.clone()).unwrap() {
                assert_eq!(cached, got);
            }
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
            let cached = sums.read_cached(&file, offset as u64..offset as u64 + 1);
            assert!(
                matches!(&cached, Ok(None))
                    || cached
                        .as_ref()
                        .is_err_and(|e| e.contains("do not match their checksum")),
                "{cached:?}"
            );
        }
        assert!(BlockChecksums::parse("zz", 10).is_none());
        assert!(BlockChecksums::parse("", 10).is_none());
    }

    #[test]
    fn remote_reads_are_checked_block_by_block() {
        let data: Vec<u8> = (0..(BLOCK_BYTES * 2 + 100))
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        let (_, text) = compute_bytes(&data);
        let sums = BlockChecksums::parse(&text, data.len() as u64).unwrap();
        let range = BLOCK_BYTES - 10..BLOCK_BYTES * 2 + 50;
        let aligned = sums.aligned(&range).unwrap();
        assert_eq!(aligned, 0..data.len() as u64);
        let read = Bytes::from(data[aligned.start as usize..aligned.end as usize].to_vec());
        let got = sums.check_aligned(read.clone(), range.clone()).unwrap();
        assert_eq!(&got[..], &data[range.start as usize..range.end as usize]);
        let mut damaged = read.to_vec();
        damaged[5] ^= 1;
        let err = sums
            .check_aligned(Bytes::from(damaged), range.clone())
            .unwrap_err();
        assert!(err.contains("do not match their checksum"), "{err}");
        let short = read.slice(0..read.len() - 1);
        assert!(
            sums.check_aligned(short, range)
                .unwrap_err()
                .contains("changed size")
        );
    }
}
