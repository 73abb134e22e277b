//! Snappy's block format (not the framed one), as remote_write and Loki's push API use it:
//! a compressor that keeps its buffers between requests, and a decompressor that checks the
//! length a block declares against a limit before allocating anything.

/// Compresses request bodies, reusing its output buffer and hash table.
pub(crate) struct BlockCompressor {
    compressed: Vec<u8>,
    encoder: snap::raw::Encoder,
}

impl BlockCompressor {
    pub(crate) fn new() -> Self {
        BlockCompressor { compressed: Vec::new(), encoder: snap::raw::Encoder::new() }
    }

    /// `input` as one snappy block; valid until the next call.
    pub(crate) fn compress(&mut self, input: &[u8]) -> &[u8] {
        self.compressed.resize(snap::raw::max_compress_len(input.len()), 0);
        // Compressing into a buffer of `max_compress_len` bytes cannot fail for inputs below
        // snappy's 4 GiB limit (far above any request); on that impossible failure the body
        // is empty.
        let written = self.encoder.compress(input, &mut self.compressed).unwrap_or(0);
        &self.compressed[..written]
    }

    /// Bytes the output buffer holds.
    pub(crate) fn capacity(&self) -> usize {
        self.compressed.capacity()
    }
}

/// Why a block could not be decompressed.
#[derive(Debug)]
pub(crate) enum DecompressError {
    Snappy(snap::Error),
    /// The block declares more than the limit.
    TooLarge {
        declared: usize,
    },
}

/// Decompresses one snappy block, refusing one that declares more than `limit` bytes before
/// allocating.
pub(crate) fn decompress_bounded(block: &[u8], limit: usize) -> Result<Vec<u8>, DecompressError> {
    let declared = snap::raw::decompress_len(block).map_err(DecompressError::Snappy)?;
    if declared > limit {
        return Err(DecompressError::TooLarge { declared });
    }
    let mut out = vec![0u8; declared];
    let written = snap::raw::Decoder::new().decompress(block, &mut out).map_err(DecompressError::Snappy)?;
    out.truncate(written);
    Ok(out)
}
