//! The checks every store passes. `a` and `b` are two scopes of one backend
//! (two prefixes of a bucket, two directories): each must see only its own
//! keys.

use std::sync::Arc;

use bytes::Bytes;
use containarium::Code;
use containarium::store::{ObjectWriter, Store};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

/// Larger than 64 MiB and not a whole number of parts.
const BIG: usize = 70 * 1024 * 1024 + 12345;
const CHUNK: usize = 256 * 1024;

pub async fn run(a: Arc<dyn Store>, b: Arc<dyn Store>) {
    big_object_round_trip(a.as_ref()).await;
    list_by_prefix_and_scope(a.as_ref(), b.as_ref()).await;
    abort_leaves_nothing(a.as_ref()).await;
    never_overwrites(a.as_ref()).await;
    racing_writers_first_commit_wins(a.as_ref()).await;
    delete_then_not_found(a.as_ref()).await;
}

/// Deterministic, incompressible bytes: chunk `i` of a stream.
fn chunk(i: usize, len: usize) -> Bytes {
    let mut out = Vec::with_capacity(len);
    let mut x = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    Bytes::from(out)
}

/// Writes `size` bytes in 256 KiB chunks; returns their SHA-256.
async fn write_stream(w: &mut dyn ObjectWriter, size: usize) -> String {
    write_stream_from(w, size, 0).await
}

/// [`write_stream`] from chunk `first` on: another seed, other bytes.
async fn write_stream_from(w: &mut dyn ObjectWriter, size: usize, first: usize) -> String {
    let mut h = Sha256::new();
    let mut done = 0;
    let mut i = first;
    while done < size {
        let c = chunk(i, CHUNK.min(size - done));
        h.update(&c);
        done += c.len();
        w.write(c).await.unwrap();
        i += 1;
    }
    hex::encode(h.finalize())
}

async fn read_hash(s: &dyn Store, key: &str) -> (usize, String) {
    let mut r = s.reader(key).await.unwrap();
    let mut h = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut n = 0;
    loop {
        let got = r.read(&mut buf).await.unwrap();
        if got == 0 {
            return (n, hex::encode(h.finalize()));
        }
        n += got;
        h.update(&buf[..got]);
    }
}

async fn big_object_round_trip(s: &dyn Store) {
    let mut w = s.writer("big.dump").await.unwrap();
    let sha = write_stream(w.as_mut(), BIG).await;
    assert!(
        !s.list("").await.unwrap().contains(&"big.dump".to_string()),
        "invisible before commit"
    );
    w.commit().await.unwrap();
    assert_eq!(read_hash(s, "big.dump").await, (BIG, sha), "bytes equal");
    assert!(s.location("big.dump").ends_with("big.dump"));
    s.delete("big.dump").await.unwrap();
}

async fn list_by_prefix_and_scope(a: &dyn Store, b: &dyn Store) {
    for k in ["alice-1.dump", "alice-2.dump", "bob-1.dump"] {
        a.put(k, Bytes::from_static(b"x")).await.unwrap();
    }
    b.put("alice-9.dump", Bytes::from_static(b"y"))
        .await
        .unwrap();
    assert_eq!(
        a.list("alice-").await.unwrap(),
        ["alice-1.dump", "alice-2.dump"]
    );
    assert_eq!(
        a.list("").await.unwrap(),
        ["alice-1.dump", "alice-2.dump", "bob-1.dump"]
    );
    // Each store sees its own prefix only, exactly.
    assert_eq!(b.list("alice-").await.unwrap(), ["alice-9.dump"]);
    assert_eq!(b.list("").await.unwrap(), ["alice-9.dump"]);
    assert_eq!(a.get_small("alice-1.dump", 10).await.unwrap(), b"x");
    for k in ["alice-1.dump", "alice-2.dump", "bob-1.dump"] {
        a.delete(k).await.unwrap();
    }
    b.delete("alice-9.dump").await.unwrap();
    assert!(a.list("").await.unwrap().is_empty());
}

async fn abort_leaves_nothing(s: &dyn Store) {
    // Past one part, so a resumable/multipart upload is under way.
    let mut w = s.writer("aborted.dump").await.unwrap();
    write_stream(w.as_mut(), 20 * 1024 * 1024).await;
    w.abort().await;
    assert!(s.list("").await.unwrap().is_empty(), "nothing listed");
    let e = s.reader("aborted.dump").await.err().expect("no object");
    assert_eq!(e.code, Code::NotFound, "{}", e.message);
}

async fn never_overwrites(s: &dyn Store) {
    s.put("once.meta.json", Bytes::from_static(b"first"))
        .await
        .unwrap();
    let e = s
        .put("once.meta.json", Bytes::from_static(b"second"))
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::FailedPrecondition, "{}", e.message);
    // The same through a large, multi-part upload.
    let mut w = s.writer("once.meta.json").await.unwrap();
    write_stream(w.as_mut(), 17 * 1024 * 1024).await;
    assert!(
        w.commit().await.is_err(),
        "a second commit of a key is refused"
    );
    assert_eq!(s.get_small("once.meta.json", 100).await.unwrap(), b"first");
    s.delete("once.meta.json").await.unwrap();
}

/// Two writers of one key, each past several parts (a multipart upload on
/// S3, a resumable one on GCS), both uploading while the key is absent; the
/// first to commit wins, the other is refused with the reason and the
/// object stays the winner's bytes. (The commits are one after the other:
/// moto and fake-gcs-server check a precondition and then write, so two
/// completions arriving in the same instant both succeed there; S3 and GCS
/// themselves decide atomically. That the condition rides on the completing
/// request itself is proven on the wire, in `s3_completion_is_conditional`.)
async fn racing_writers_first_commit_wins(s: &dyn Store) {
    const SIZE: usize = 17 * 1024 * 1024 + 7;
    let mut one = s.writer("raced.dump").await.unwrap();
    let mut two = s.writer("raced.dump").await.unwrap();
    let sha_one = write_stream_from(one.as_mut(), SIZE, 0).await;
    let sha_two = write_stream_from(two.as_mut(), SIZE, 1_000_000).await;
    assert_ne!(sha_one, sha_two, "the writers write different bytes");
    one.commit().await.unwrap();
    let lost = two.commit().await.unwrap_err();
    assert_eq!(lost.code, Code::FailedPrecondition, "{}", lost.message);
    assert!(
        lost.message
            .contains("already exists; objects are written once and never replaced"),
        "the loser hears why: {}",
        lost.message
    );
    assert_eq!(
        read_hash(s, "raced.dump").await,
        (SIZE, sha_one),
        "the object is the winner's, byte for byte"
    );
    assert_eq!(s.list("raced").await.unwrap(), ["raced.dump"]);
    s.delete("raced.dump").await.unwrap();
}

async fn delete_then_not_found(s: &dyn Store) {
    s.put("gone.dump", Bytes::from_static(b"z")).await.unwrap();
    s.delete("gone.dump").await.unwrap();
    assert_eq!(
        s.delete("gone.dump").await.unwrap_err().code,
        Code::NotFound
    );
    assert_eq!(
        s.reader("gone.dump").await.err().unwrap().code,
        Code::NotFound
    );
    assert!(s.list("").await.unwrap().is_empty());
}
