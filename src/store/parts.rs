//! The part buffer of the bucket stores: bytes gather into parts of exactly
//! [`PART`] bytes, each in an allocation of its own and of that size, reused
//! once its upload is done, so an upload holds the parts it is sending and
//! one filling — nothing more, and the allocator sees no churn.

use bytes::Bytes;

use super::PART;

/// Bytes not yet handed to an upload.
///
/// Not a `BytesMut`: splitting a part off one leaves the rest sharing the
/// part's allocation, and the next growth then doubles a fresh vector past
/// [`PART`]. A 1.1 GiB zstd + age dump to S3 held 35.8 MiB in those buffers
/// at its peak (heaptrack) for three 8 MiB parts; here a part's allocation
/// is the part.
#[derive(Default)]
pub(super) struct Parts {
    buf: Vec<u8>,
    /// A whole part was taken: the object is large, so each next buffer is
    /// allocated at [`PART`] at once instead of growing (and copying) to it.
    large: bool,
    /// Buffers of parts already uploaded, to fill again. Freeing each part
    /// and allocating the next left glibc's per-thread arenas holding
    /// 8 MiB holes (parts are freed on whichever thread finished them).
    spare: Vec<Vec<u8>>,
}

/// Spare buffers kept: enough for the parts of one upload in flight.
const SPARE: usize = 2;

impl Parts {
    /// Copies bytes from the front of `data` (advancing it) until the buffer
    /// holds a whole part and more bytes wait, then returns that part; `None`
    /// once `data` is used up. A full part is kept back until a byte follows
    /// it, so the last part ([`Parts::finish`]) is never empty.
    pub fn fill(&mut self, data: &mut &[u8]) -> Option<Bytes> {
        while !data.is_empty() {
            if self.buf.len() == PART {
                self.large = true;
                return Some(Bytes::from(std::mem::take(&mut self.buf)));
            }
            let n = (PART - self.buf.len()).min(data.len());
            let need = self.buf.len() + n;
            if self.buf.capacity() == 0
                && let Some(b) = self.spare.pop()
            {
                self.buf = b;
            }
            if need > self.buf.capacity() {
                let cap = if self.large {
                    PART
                } else {
                    need.max(self.buf.capacity() * 2).min(PART)
                };
                self.buf.reserve_exact(cap - self.buf.len());
            }
            self.buf.extend_from_slice(&data[..n]);
            *data = &data[n..];
        }
        None
    }

    /// Takes back a part whose upload is done, for a later part to fill;
    /// a part still referenced elsewhere is only dropped.
    pub fn recycle(&mut self, part: Bytes) {
        if self.spare.len() < SPARE && part.is_unique() {
            let mut b = Vec::from(part);
            if b.capacity() == PART {
                b.clear();
                self.spare.push(b);
            }
        }
    }

    /// The bytes not yet taken: the object's last part, or the whole object
    /// when no part was taken (empty for an empty object).
    pub fn finish(&mut self) -> Bytes {
        Bytes::from(std::mem::take(&mut self.buf))
    }

    /// Drops the buffered bytes and every allocation.
    pub fn clear(&mut self) {
        self.buf = Vec::new();
        self.spare = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `total` bytes in `chunk`-sized writes; answers the parts taken,
    /// the last part and the largest capacity the buffer reached.
    fn feed(total: usize, chunk: usize) -> (Vec<Bytes>, Bytes, usize) {
        let data: Vec<u8> = (0..251u8).cycle().take(total).collect();
        let mut parts = Parts::default();
        let (mut taken, mut most) = (Vec::new(), 0);
        for c in data.chunks(chunk) {
            let mut rest = c;
            while let Some(p) = parts.fill(&mut rest) {
                taken.push(p);
            }
            most = most.max(parts.buf.capacity());
        }
        let last = parts.finish();
        let joined: Vec<u8> = taken
            .iter()
            .chain([&last])
            .flat_map(|p| p.to_vec())
            .collect();
        assert_eq!(joined, data, "the parts in order are the object");
        (taken, last, most)
    }

    #[test]
    fn parts_are_exactly_part_sized_and_the_buffer_never_outgrows_one() {
        let (taken, last, most) = feed(2 * PART + 5, 256 * 1024 + 1);
        assert_eq!(
            taken.iter().map(Bytes::len).collect::<Vec<_>>(),
            [PART, PART]
        );
        assert_eq!(last.len(), 5);
        assert_eq!(most, PART, "the buffer grew past one part");
    }

    #[test]
    fn a_full_last_part_is_kept_back_and_small_objects_stay_small() {
        let (taken, last, _) = feed(2 * PART, 256 * 1024);
        assert_eq!(
            (taken.len(), last.len()),
            (1, PART),
            "the last part must carry bytes"
        );
        let (taken, last, most) = feed(1000, 300);
        assert_eq!((taken.len(), last.len()), (0, 1000));
        assert!(most < 4096, "a 1000-byte object reserved {most} bytes");
        let (taken, last, _) = feed(PART + 1, PART + 1);
        assert_eq!(
            (taken.len(), last.len()),
            (1, 1),
            "one write larger than a part"
        );
    }
}
