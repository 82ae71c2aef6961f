//! Frames over a byte stream (tokio's `AsyncRead`/`AsyncWrite`): the I/O half of [`crate::wire`],
//! whose format and decoding need none.

use crate::wire::{Frame, MAX_FRAME, WireError, decode, frame_bytes};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Writes one frame.
pub async fn write_frame<W: AsyncWrite + Unpin>(
    w: &mut W,
    frame: &Frame,
) -> Result<usize, WireError> {
    let bytes = frame_bytes(frame)?;
    w.write_all(&bytes).await?;
    w.flush().await?;
    Ok(bytes.len())
}

/// Reads one frame; `Ok(None)` at a clean end of stream.
pub async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
) -> Result<Option<(Frame, usize)>, WireError> {
    read_frame_max(r, MAX_FRAME).await
}

/// Reads one frame of at most `max` bytes (and at most [`MAX_FRAME`]); `Ok(None)` at a clean
/// end of stream.
pub async fn read_frame_max<R: AsyncRead + Unpin>(
    r: &mut R,
    max: usize,
) -> Result<Option<(Frame, usize)>, WireError> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > max.min(MAX_FRAME) {
        return Err(WireError::TooLarge(len));
    }
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf).await?;
    Ok(Some((decode(&buf)?, len + 4)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn oversized_length_prefix_is_refused_before_allocating() {
        let mut data: &[u8] = &[0xff, 0xff, 0xff, 0xff, 1, 2, 3];
        assert!(matches!(
            read_frame(&mut data).await,
            Err(WireError::TooLarge(_))
        ));
        let mut empty: &[u8] = &[];
        assert!(read_frame(&mut empty).await.unwrap().is_none());
    }
}
