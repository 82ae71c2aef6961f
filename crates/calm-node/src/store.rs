//! Durable storage of a node's state: a [`Storage`] trait, its implementation on
//! [redb](https://docs.rs/redb) ([`RedbStorage`], the file `calm.redb` in `--data-dir`), a redb
//! file in memory that outlives the database that wrote it ([`MemoryDisk`], for the simulator),
//! and fault-injecting wrappers for tests ([`FaultyStorage`], [`FaultyBackend`]).
//!
//! The node stores its state as events plus snapshots (see `crate::durable` for what goes in):
//!
//! | table | key | value |
//! |---|---|---|
//! | `meta` | name | format version, program fingerprint, incarnation, next log key, snapshot header |
//! | `log` | step number | the inputs of one step (one engine tick), bincode |
//! | `outbox` | (peer, sequence number) | a batch sent and not yet acknowledged |
//! | `peers` | peer | next sequence number, last incarnation seen |
//! | `snapshot` | chunk number | the node's state before the step `covers`, in chunks |
//!
//! Every [`Storage::commit`] is one redb write transaction, durable when it returns (fsync, one
//! per commit). redb checks the checksums of every page when the file is opened
//! (`set_check_integrity_on_open`), so a torn or corrupted file is refused, not read.

use crate::wire::WireFact;
use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, StorageBackend,
    TableDefinition,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

const META: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("meta");
const LOG: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("log");
const OUTBOX: TableDefinition<'_, (&str, u64), &[u8]> = TableDefinition::new("outbox");
const PEERS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("peers");
const SNAPSHOT: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("snapshot");

/// The file in the data directory.
pub const FILE_NAME: &str = "calm.redb";

/// Bytes in one stored chunk of a snapshot. redb gives a value its own page of a power of two
/// bytes and frees the pages of the snapshot a commit replaces only after the next commit: with
/// one big chunk, a snapshot of 2.3 MB took a 4 MiB page and the file grew to 7 times the state
/// (and to 16 MiB chunks and beyond as the state grew). Chunks a little under 256 KiB fill their
/// pages, and freed ones are reused by the next snapshot: the file stays under three times the
/// state (`the_data_file_stays_within_three_times_the_state`). Stores written with other chunk
/// sizes read the same: the chunks are concatenated in order.
const CHUNK: usize = (256 << 10) - 4096;

/// A storage failure. The node stops on any (fail-stop).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{location}: {message}")]
pub struct StoreError {
    /// Where: the data file's path.
    pub location: String,
    /// What went wrong.
    pub message: String,
    /// The data is damaged (as opposed to an I/O failure).
    pub corrupt: bool,
}

impl StoreError {
    /// An I/O or database failure at `location`.
    pub fn io(location: &str, e: impl std::fmt::Display) -> StoreError {
        StoreError {
            location: location.to_string(),
            message: e.to_string(),
            corrupt: false,
        }
    }

    /// Damaged data at `location`.
    pub fn corrupt(location: &str, e: impl std::fmt::Display) -> StoreError {
        StoreError {
            location: location.to_string(),
            message: format!("the data is damaged: {e}"),
            corrupt: true,
        }
    }
}

/// What the node knows about one peer, kept across restarts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerRecord {
    /// The sequence number of the next batch to it.
    pub next_seq: u64,
    /// Its incarnation when last connected.
    pub incarnation: Option<u64>,
}

/// Everything a previous run committed.
#[derive(Clone, Debug, Default)]
pub struct Recovered {
    /// `meta` entries.
    pub meta: BTreeMap<String, Vec<u8>>,
    /// The snapshot's bytes, if one was taken.
    pub snapshot: Option<Vec<u8>>,
    /// Log entries by step number, in order.
    pub log: Vec<(u64, Vec<u8>)>,
    /// Unacknowledged batches: (peer, sequence number, facts), in order.
    pub outbox: Vec<(String, u64, Vec<WireFact>)>,
    /// Peers.
    pub peers: BTreeMap<String, PeerRecord>,
}

/// One atomic, durable change.
#[derive(Clone, Debug, Default)]
pub struct Commit<'a> {
    /// `meta` entries to set.
    pub meta: Vec<(&'static str, Vec<u8>)>,
    /// A log entry.
    pub log: Option<(u64, &'a [u8])>,
    /// Batches to keep until acknowledged.
    pub outbox_add: Vec<(&'a str, u64, &'a [WireFact])>,
    /// Acknowledged batches to forget.
    pub outbox_remove: Vec<(String, u64)>,
    /// Peers whose record changed.
    pub peers: Vec<(String, PeerRecord)>,
    /// A new snapshot, replacing the old one; log entries before `covers` are deleted.
    pub snapshot: Option<(u64, &'a [u8])>,
}

impl Commit<'_> {
    /// Whether the commit changes nothing.
    pub fn is_empty(&self) -> bool {
        self.meta.is_empty()
            && self.log.is_none()
            && self.outbox_add.is_empty()
            && self.outbox_remove.is_empty()
            && self.peers.is_empty()
            && self.snapshot.is_none()
    }
}

/// Sizes of what is stored, for tests and status.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Log entries.
    pub log_entries: u64,
    /// Bytes of log entries.
    pub log_bytes: u64,
    /// Unacknowledged batches.
    pub outbox_batches: u64,
    /// Bytes of the snapshot.
    pub snapshot_bytes: u64,
}

/// Where a node keeps its state. Implementations must make each commit atomic (all or nothing)
/// and durable before `commit` returns.
pub trait Storage: Send {
    /// Reads everything committed before.
    fn recover(&mut self) -> Result<Recovered, StoreError>;
    /// Applies `commit` atomically and durably.
    fn commit(&mut self, commit: &Commit<'_>) -> Result<(), StoreError>;
    /// Sizes of what is stored.
    fn stats(&self) -> Result<StoreStats, StoreError>;
    /// Where the data is, for messages.
    fn location(&self) -> String;
}

/// Bincode with a limit, for everything stored.
fn config() -> bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Varint,
    bincode::config::Limit<{ 1 << 32 }>,
> {
    bincode::config::standard().with_limit::<{ 1 << 32 }>()
}

/// Encodes a stored value.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    // Encoding into a vector fails only past the limit (4 GiB), which no value reaches: the
    // inputs of one step are bounded by the request and frame limits.
    bincode::serde::encode_to_vec(value, config()).unwrap_or_default()
}

/// Decodes a stored value; all bytes must be used.
pub fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let (v, used) =
        bincode::serde::decode_from_slice(bytes, config()).map_err(|e| e.to_string())?;
    if used != bytes.len() {
        return Err(format!("{} trailing bytes", bytes.len() - used));
    }
    Ok(v)
}

/// A node's state in a redb database file.
pub struct RedbStorage {
    db: Database,
    path: PathBuf,
    rolled_back: bool,
}

fn catch<T>(location: &str, f: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
    // redb may panic on a file damaged in ways its checks do not catch; that is a damaged file,
    // not a reason to abort the process.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|p| {
        let msg = p
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| p.downcast_ref::<&str>().copied())
            .unwrap_or("panic");
        Err(StoreError::corrupt(location, msg))
    })
}

fn db_error(location: &str, e: redb::DatabaseError) -> StoreError {
    match e {
        redb::DatabaseError::Storage(redb::StorageError::Corrupted(m)) => {
            StoreError::corrupt(location, m)
        }
        redb::DatabaseError::Storage(redb::StorageError::Io(e))
            if e.kind() == std::io::ErrorKind::UnexpectedEof =>
        {
            StoreError::corrupt(location, "the file ends early (truncated?)")
        }
        redb::DatabaseError::DatabaseAlreadyOpen => StoreError::io(
            location,
            "the data directory is in use by another process (another node?)",
        ),
        other => StoreError::io(location, other),
    }
}

fn builder(location: &str, rolled_back: &Arc<AtomicBool>) -> redb::Builder {
    let mut b = Database::builder();
    b.set_check_integrity_on_open(true);
    let location = location.to_string();
    let rolled_back = rolled_back.clone();
    b.set_repair_callback(move |s| {
        let p = s.progress();
        if p == 0.0 {
            tracing::debug!(path = %location, "checking the data file's integrity");
        } else if (p - 0.3).abs() < 1e-9 {
            // redb reports this stage only when the last commit fails its checksums and it
            // falls back to the one before.
            rolled_back.store(true, Ordering::SeqCst);
        }
    });
    b
}

/// The marker a new store's first commit writes, before the file gets its name.
const CREATED: &str = "created";

fn mark_created(db: &Database) -> Result<(), redb::Error> {
    let tx = db.begin_write()?;
    {
        let mut meta = tx.open_table(META)?;
        meta.insert(CREATED, [1u8].as_slice())?;
    }
    tx.commit()?;
    Ok(())
}

impl RedbStorage {
    /// Opens (or creates) the store in directory `dir`, checking the whole file.
    ///
    /// A new store is created as `calm.redb.new`, given a first commit, and only then renamed
    /// `calm.redb`: so a `calm.redb` that is empty, or holds no commit of calm's, is damaged (and
    /// refused), never mistaken for a new one.
    pub fn open(dir: &Path) -> Result<RedbStorage, StoreError> {
        let path = dir.join(FILE_NAME);
        let location = path.display().to_string();
        std::fs::create_dir_all(dir).map_err(|e| StoreError::io(&dir.display().to_string(), e))?;
        let rolled_back = Arc::new(AtomicBool::new(false));
        let exists = match std::fs::metadata(&path) {
            Ok(m) if m.len() == 0 => {
                return Err(StoreError::corrupt(
                    &location,
                    "the file is empty (truncated?)",
                ));
            }
            Ok(_) => true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(StoreError::io(&location, e)),
        };
        let db = if exists {
            catch(&location, || {
                builder(&location, &rolled_back)
                    .open(&path)
                    .map_err(|e| db_error(&location, e))
            })?
        } else {
            let fresh = dir.join(format!("{FILE_NAME}.new"));
            let _ = std::fs::remove_file(&fresh);
            let db = catch(&location, || {
                builder(&location, &rolled_back)
                    .create(&fresh)
                    .map_err(|e| db_error(&location, e))
            })?;
            mark_created(&db).map_err(|e| StoreError::io(&location, e))?;
            std::fs::rename(&fresh, &path).map_err(|e| StoreError::io(&location, e))?;
            // Make the file's name durable too.
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| StoreError::io(&location, e))?;
            db
        };
        let rolled_back = rolled_back.load(Ordering::SeqCst);
        if rolled_back {
            tracing::warn!(
                path = %location,
                "the data file's last commit was incomplete and was discarded: the node stopped \
                 while writing it (a crash, a power loss, or a failed write such as a full disk); \
                 nothing of a commit that did not complete was acknowledged. Only if the file was \
                 damaged after the commit completed is acknowledged data lost"
            );
        }
        Ok(RedbStorage {
            db,
            path,
            rolled_back,
        })
    }

    /// Opens a store on another storage backend (e.g. [`FaultyBackend`]); `path` is for messages.
    pub fn open_with_backend(
        backend: impl StorageBackend,
        path: &Path,
    ) -> Result<RedbStorage, StoreError> {
        let location = path.display().to_string();
        let rolled_back = Arc::new(AtomicBool::new(false));
        let db = catch(&location, || {
            builder(&location, &rolled_back)
                .create_with_backend(backend)
                .map_err(|e| db_error(&location, e))
        })?;
        mark_created(&db).map_err(|e| StoreError::io(&location, e))?;
        Ok(RedbStorage {
            db,
            path: path.to_path_buf(),
            rolled_back: rolled_back.load(Ordering::SeqCst),
        })
    }

    /// Opens (or creates) the store on the redb file of a [`MemoryDisk`], checking the whole file
    /// as [`RedbStorage::open`] does; `location` names it in messages. The store becomes the
    /// disk's only writer (see [`MemoryDisk::backend`]). An empty disk gets a new store; bytes
    /// that are not a redb file, or a damaged one, are refused.
    pub fn open_memory(disk: &MemoryDisk, location: &str) -> Result<RedbStorage, StoreError> {
        let rolled_back = Arc::new(AtomicBool::new(false));
        let fresh = disk.is_empty();
        let db = catch(location, || {
            // `create_with_backend` opens an existing file and initialises only an empty one.
            builder(location, &rolled_back)
                .create_with_backend(disk.backend())
                .map_err(|e| db_error(location, e))
        })?;
        if fresh {
            mark_created(&db).map_err(|e| StoreError::io(location, e))?;
        }
        let rolled_back = rolled_back.load(Ordering::SeqCst);
        if rolled_back {
            tracing::error!(
                path = %location,
                "the data file's last commit failed its checksums and was discarded"
            );
        }
        Ok(RedbStorage {
            db,
            path: PathBuf::from(location),
            rolled_back,
        })
    }

    /// Whether opening found the last commit damaged and fell back to the one before (logged
    /// as an error).
    pub fn rolled_back(&self) -> bool {
        self.rolled_back
    }

    fn loc(&self) -> String {
        self.path.display().to_string()
    }

    fn do_recover(&self) -> Result<Recovered, StoreError> {
        let loc = self.loc();
        let io = |e: redb::Error| StoreError::io(&loc, e);
        let tx = self.db.begin_read().map_err(|e| io(e.into()))?;
        let mut out = Recovered::default();
        let missing = |e: &redb::TableError| matches!(e, redb::TableError::TableDoesNotExist(_));
        match tx.open_table(META) {
            Ok(t) => {
                for r in t.iter().map_err(|e| io(e.into()))? {
                    let (k, v) = r.map_err(|e| io(e.into()))?;
                    out.meta.insert(k.value().to_string(), v.value().to_vec());
                }
            }
            Err(e) if missing(&e) => return Ok(out),
            Err(e) => return Err(io(e.into())),
        }
        match tx.open_table(LOG) {
            Ok(t) => {
                for r in t.iter().map_err(|e| io(e.into()))? {
                    let (k, v) = r.map_err(|e| io(e.into()))?;
                    out.log.push((k.value(), v.value().to_vec()));
                }
            }
            Err(e) if missing(&e) => {}
            Err(e) => return Err(io(e.into())),
        }
        match tx.open_table(OUTBOX) {
            Ok(t) => {
                for r in t.iter().map_err(|e| io(e.into()))? {
                    let (k, v) = r.map_err(|e| io(e.into()))?;
                    let (peer, seq) = k.value();
                    let facts = decode(v.value()).map_err(|e| {
                        StoreError::corrupt(&loc, format!("outbox batch {peer}/{seq}: {e}"))
                    })?;
                    out.outbox.push((peer.to_string(), seq, facts));
                }
            }
            Err(e) if missing(&e) => {}
            Err(e) => return Err(io(e.into())),
        }
        match tx.open_table(PEERS) {
            Ok(t) => {
                for r in t.iter().map_err(|e| io(e.into()))? {
                    let (k, v) = r.map_err(|e| io(e.into()))?;
                    let rec = decode(v.value()).map_err(|e| {
                        StoreError::corrupt(&loc, format!("peer `{}`: {e}", k.value()))
                    })?;
                    out.peers.insert(k.value().to_string(), rec);
                }
            }
            Err(e) if missing(&e) => {}
            Err(e) => return Err(io(e.into())),
        }
        match tx.open_table(SNAPSHOT) {
            Ok(t) => {
                let mut bytes = Vec::new();
                let mut n = 0;
                for r in t.iter().map_err(|e| io(e.into()))? {
                    let (k, v) = r.map_err(|e| io(e.into()))?;
                    if k.value() != n {
                        return Err(StoreError::corrupt(
                            &loc,
                            format!("snapshot chunk {n} is missing"),
                        ));
                    }
                    n += 1;
                    bytes.extend_from_slice(v.value());
                }
                if n > 0 {
                    out.snapshot = Some(bytes);
                }
            }
            Err(e) if missing(&e) => {}
            Err(e) => return Err(io(e.into())),
        }
        Ok(out)
    }

    fn do_commit(&self, c: &Commit<'_>) -> Result<(), redb::Error> {
        let mut tx = self.db.begin_write()?;
        tx.set_durability(Durability::Immediate)
            .map_err(|e| redb::Error::Corrupted(e.to_string()))?;
        {
            let mut meta = tx.open_table(META)?;
            for (k, v) in &c.meta {
                meta.insert(*k, v.as_slice())?;
            }
            let mut log = tx.open_table(LOG)?;
            if let Some((k, v)) = c.log {
                log.insert(k, v)?;
            }
            let mut outbox = tx.open_table(OUTBOX)?;
            for (peer, seq, facts) in &c.outbox_add {
                outbox.insert((*peer, *seq), encode(facts).as_slice())?;
            }
            for (peer, seq) in &c.outbox_remove {
                outbox.remove((peer.as_str(), *seq))?;
            }
            let mut peers = tx.open_table(PEERS)?;
            for (peer, rec) in &c.peers {
                peers.insert(peer.as_str(), encode(rec).as_slice())?;
            }
            let mut snap = tx.open_table(SNAPSHOT)?;
            if let Some((covers, bytes)) = c.snapshot {
                snap.retain(|_, _| false)?;
                for (i, chunk) in bytes.chunks(CHUNK).enumerate() {
                    snap.insert(i as u64, chunk)?;
                }
                log.retain_in(..covers, |_, _| false)?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}

impl Storage for RedbStorage {
    fn recover(&mut self) -> Result<Recovered, StoreError> {
        let loc = self.loc();
        catch(&loc, || self.do_recover())
    }

    fn commit(&mut self, commit: &Commit<'_>) -> Result<(), StoreError> {
        let loc = self.loc();
        catch(&loc, || {
            self.do_commit(commit)
                .map_err(|e| StoreError::io(&loc, format!("commit failed: {e}")))
        })
    }

    fn stats(&self) -> Result<StoreStats, StoreError> {
        let loc = self.loc();
        let io = |e: redb::Error| StoreError::io(&loc, e);
        let tx = self.db.begin_read().map_err(|e| io(e.into()))?;
        let mut s = StoreStats::default();
        if let Ok(t) = tx.open_table(LOG) {
            for r in t.iter().map_err(|e| io(e.into()))? {
                let (_, v) = r.map_err(|e| io(e.into()))?;
                s.log_entries += 1;
                s.log_bytes += v.value().len() as u64;
            }
        }
        if let Ok(t) = tx.open_table(OUTBOX) {
            s.outbox_batches = t.len().map_err(|e| io(e.into()))?;
        }
        if let Ok(t) = tx.open_table(SNAPSHOT) {
            for r in t.iter().map_err(|e| io(e.into()))? {
                let (_, v) = r.map_err(|e| io(e.into()))?;
                s.snapshot_bytes += v.value().len() as u64;
            }
        }
        Ok(s)
    }

    fn location(&self) -> String {
        self.loc()
    }
}

/// A disk in memory holding one redb file: bytes that outlive the database that wrote them, so
/// that a store can be closed abruptly and opened again ([`RedbStorage::open_memory`]), as after
/// a crash of the process that held it. Clones share the bytes. The simulator keeps the store of
/// a node with a data directory on one.
///
/// Only the backend opened last writes: opening another ([`MemoryDisk::backend`]) or
/// [`MemoryDisk::cut_power`] cuts off the one before, whose writes, syncs and length changes
/// are then ignored, so that a database dropped after its "crash" cannot touch the file (redb
/// writes its allocator state and a clean-shutdown flag when a database is dropped; a process
/// that dies does not). What the disk holds is then exactly what the last commit left.
///
/// The file is sparse: pages never written read as zeros and take no memory (a new redb file
/// is a megabyte long, mostly never written).
#[derive(Clone, Debug, Default)]
pub struct MemoryDisk {
    inner: Arc<Mutex<DiskState>>,
}

/// Bytes in a page of a [`MemoryDisk`].
const DISK_PAGE: usize = 4096;

#[derive(Default)]
struct DiskState {
    /// The file's length.
    len: usize,
    /// Its pages (`DISK_PAGE` bytes each; `None`: all zeros).
    pages: Vec<Option<Box<[u8]>>>,
    /// The backend allowed to write; older ones are cut off.
    writer: u64,
}

impl std::fmt::Debug for DiskState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the bytes: a megabyte at least.
        f.debug_struct("DiskState")
            .field("len", &self.len)
            .field("writer", &self.writer)
            .finish()
    }
}

impl DiskState {
    /// The pieces of `offset..offset + n`: (page, offset in it, offset in the range, length).
    fn pieces(
        &self,
        offset: u64,
        n: usize,
    ) -> std::io::Result<impl Iterator<Item = (usize, usize, usize, usize)> + use<>> {
        let start = usize::try_from(offset).map_err(|_| MemoryBackend::out_of_range())?;
        let end = start
            .checked_add(n)
            .filter(|&e| e <= self.len)
            .ok_or_else(MemoryBackend::out_of_range)?;
        let mut pos = start;
        Ok(std::iter::from_fn(move || {
            if pos >= end {
                return None;
            }
            let (page, within) = (pos / DISK_PAGE, pos % DISK_PAGE);
            let len = (DISK_PAGE - within).min(end - pos);
            let piece = (page, within, pos - start, len);
            pos += len;
            Some(piece)
        }))
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
        for (page, within, at, len) in self.pieces(offset, out.len())? {
            let dst = &mut out[at..at + len];
            match self.pages.get(page).and_then(Option::as_ref) {
                Some(p) => dst.copy_from_slice(&p[within..within + len]),
                None => dst.fill(0),
            }
        }
        Ok(())
    }

    fn write(&mut self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        for (page, within, at, len) in self.pieces(offset, data.len())? {
            let slot = self
                .pages
                .get_mut(page)
                .ok_or_else(MemoryBackend::out_of_range)?;
            let p = slot.get_or_insert_with(|| vec![0; DISK_PAGE].into_boxed_slice());
            p[within..within + len].copy_from_slice(&data[at..at + len]);
        }
        Ok(())
    }

    fn set_len(&mut self, len: usize) {
        if len < self.len {
            // What is cut off reads as zeros if the file grows again.
            let (page, within) = (len / DISK_PAGE, len % DISK_PAGE);
            if let Some(Some(p)) = self.pages.get_mut(page) {
                p[within..].fill(0);
            }
        }
        self.pages.resize(len.div_ceil(DISK_PAGE), None);
        self.len = len;
    }
}

impl MemoryDisk {
    /// An empty disk (a new store is created on it when first opened).
    pub fn new() -> MemoryDisk {
        MemoryDisk::default()
    }

    fn lock(&self) -> std::io::Result<MutexGuard<'_, DiskState>> {
        self.inner
            .lock()
            .map_err(|_| std::io::Error::other("the memory disk's lock is poisoned"))
    }

    /// A redb backend on this disk, which becomes its only writer: every backend opened before
    /// is cut off.
    pub fn backend(&self) -> MemoryBackend {
        let writer = match self.lock() {
            Ok(mut d) => {
                d.writer += 1;
                d.writer
            }
            // A poisoned disk: a backend that can do nothing but fail.
            Err(_) => 0,
        };
        MemoryBackend {
            disk: self.clone(),
            writer,
        }
    }

    /// Cuts off the current writer, as a crash of the process holding the file would: nothing
    /// it does from now on reaches the disk.
    pub fn cut_power(&self) {
        if let Ok(mut d) = self.lock() {
            d.writer += 1;
        }
    }

    /// The file's length in bytes.
    pub fn len(&self) -> usize {
        self.lock().map_or(0, |d| d.len)
    }

    /// Whether the file is empty (no store was ever created on it).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy of the file.
    pub fn bytes(&self) -> Vec<u8> {
        let Ok(d) = self.lock() else {
            return Vec::new();
        };
        let mut out = vec![0; d.len];
        // Within the length by construction.
        let _ = d.read(0, &mut out);
        out
    }

    /// Replaces the file (to damage a store in tests); cuts off the current writer.
    pub fn set_bytes(&self, bytes: &[u8]) {
        if let Ok(mut d) = self.lock() {
            d.pages.clear();
            d.set_len(bytes.len());
            let _ = d.write(0, bytes);
            d.writer += 1;
        }
    }
}

/// A redb [`StorageBackend`] on a [`MemoryDisk`]; see there.
#[derive(Debug)]
pub struct MemoryBackend {
    disk: MemoryDisk,
    /// Its number as a writer of the disk.
    writer: u64,
}

impl MemoryBackend {
    /// Changes the disk if this backend is still its writer (otherwise the change is lost, and
    /// reported as done: the process that made it is gone).
    fn change(&self, f: impl FnOnce(&mut DiskState) -> std::io::Result<()>) -> std::io::Result<()> {
        let mut d = self.disk.lock()?;
        if d.writer != self.writer {
            return Ok(());
        }
        f(&mut d)
    }

    fn out_of_range() -> std::io::Error {
        std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "read or write past the end of the memory disk",
        )
    }
}

impl StorageBackend for MemoryBackend {
    fn len(&self) -> std::io::Result<u64> {
        Ok(self.disk.lock()?.len as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
        self.disk.lock()?.read(offset, out)
    }

    fn set_len(&self, len: u64) -> std::io::Result<()> {
        let len = usize::try_from(len).map_err(|_| Self::out_of_range())?;
        self.change(|d| {
            d.set_len(len);
            Ok(())
        })
    }

    fn sync_data(&self) -> std::io::Result<()> {
        // Every write is on the "disk" as soon as it is made.
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        self.change(|d| d.write(offset, data))
    }
}

/// A [`Storage`] that fails every commit from the `fail_from`-th on (counting from 1), as a
/// disk that fills up or breaks would: for fail-stop tests.
pub struct FaultyStorage {
    inner: Box<dyn Storage>,
    commits: u64,
    fail_from: u64,
}

impl FaultyStorage {
    /// Wraps `inner`; commits from number `fail_from` on fail with "injected I/O error".
    pub fn new(inner: Box<dyn Storage>, fail_from: u64) -> FaultyStorage {
        FaultyStorage {
            inner,
            commits: 0,
            fail_from,
        }
    }
}

impl Storage for FaultyStorage {
    fn recover(&mut self) -> Result<Recovered, StoreError> {
        self.inner.recover()
    }

    fn commit(&mut self, commit: &Commit<'_>) -> Result<(), StoreError> {
        self.commits += 1;
        if self.commits >= self.fail_from {
            return Err(StoreError::io(
                &self.inner.location(),
                "injected I/O error (No space left on device)",
            ));
        }
        self.inner.commit(commit)
    }

    fn stats(&self) -> Result<StoreStats, StoreError> {
        self.inner.stats()
    }

    fn location(&self) -> String {
        self.inner.location()
    }
}

/// A redb storage backend on a file that can be told to fail its writes or syncs with `EIO`:
/// the I/O errors of a real disk, seen by redb itself.
#[derive(Debug)]
pub struct FaultyBackend {
    file: std::fs::File,
    /// Syncs left before they fail (`u64::MAX`: never).
    pub syncs_left: Arc<AtomicU64>,
    /// When set, every write fails.
    pub fail_writes: Arc<AtomicBool>,
}

impl FaultyBackend {
    /// A backend on the file at `path` (created if missing) that never fails until told to.
    pub fn open(path: &Path) -> std::io::Result<FaultyBackend> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        Ok(FaultyBackend {
            file,
            syncs_left: Arc::new(AtomicU64::new(u64::MAX)),
            fail_writes: Arc::new(AtomicBool::new(false)),
        })
    }

    fn eio() -> std::io::Error {
        std::io::Error::from_raw_os_error(5)
    }
}

impl StorageBackend for FaultyBackend {
    fn len(&self) -> std::io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(&self.file, out, offset)
    }

    fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.file.set_len(len)
    }

    fn sync_data(&self) -> std::io::Result<()> {
        let left = self.syncs_left.load(Ordering::SeqCst);
        if left == 0 {
            return Err(Self::eio());
        }
        if left != u64::MAX {
            self.syncs_left.store(left - 1, Ordering::SeqCst);
        }
        self.file.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        if self.fail_writes.load(Ordering::SeqCst) {
            return Err(Self::eio());
        }
        std::os::unix::fs::FileExt::write_all_at(&self.file, data, offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::WireValue;

    fn fact(n: i64) -> WireFact {
        WireFact {
            relation: "r".into(),
            tuple: vec![WireValue::Number(n)],
        }
    }

    #[test]
    fn commits_are_recovered_and_snapshots_compact_the_log() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut s = RedbStorage::open(dir.path()).unwrap();
            assert_eq!(
                s.recover().unwrap().meta.len(),
                1,
                "only the creation marker"
            );
            let batch = [fact(1), fact(2)];
            for i in 0..5u64 {
                let entry = encode(&vec![i; 3]);
                s.commit(&Commit {
                    meta: vec![("log_next", encode(&(i + 1)))],
                    log: Some((i, &entry)),
                    outbox_add: vec![("p", i + 1, &batch)],
                    peers: vec![(
                        "p".into(),
                        PeerRecord {
                            next_seq: i + 2,
                            incarnation: Some(9),
                        },
                    )],
                    ..Commit::default()
                })
                .unwrap();
            }
            let big = vec![7u8; CHUNK + 10];
            s.commit(&Commit {
                outbox_remove: vec![("p".into(), 1), ("p".into(), 2)],
                snapshot: Some((3, &big)),
                ..Commit::default()
            })
            .unwrap();
            let st = s.stats().unwrap();
            assert_eq!(st.log_entries, 2);
            assert_eq!(st.outbox_batches, 3);
            assert_eq!(st.snapshot_bytes, big.len() as u64);
        }
        let mut s = RedbStorage::open(dir.path()).unwrap();
        let r = s.recover().unwrap();
        assert_eq!(decode::<u64>(&r.meta["log_next"]).unwrap(), 5);
        assert!(!s.rolled_back());
        assert_eq!(
            r.log.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
            vec![3, 4]
        );
        assert_eq!(decode::<Vec<u64>>(&r.log[0].1).unwrap(), vec![3, 3, 3]);
        assert_eq!(
            r.outbox.iter().map(|(_, s, _)| *s).collect::<Vec<_>>(),
            vec![3, 4, 5]
        );
        assert_eq!(r.outbox[0].2, vec![fact(1), fact(2)]);
        assert_eq!(r.peers["p"].next_seq, 6);
        assert_eq!(r.snapshot.unwrap().len(), CHUNK + 10);
        // A second process cannot open it while this one has it.
        let e = RedbStorage::open(dir.path()).err().unwrap();
        assert!(e.message.contains("in use"), "{e}");
    }

    /// A node's state that grows (as a store that keeps every version does), snapshotted again
    /// and again with log entries in between: the data file stays within three times the last
    /// snapshot (the old and the new one at a snapshot's commit, the log, redb's own pages).
    #[test]
    fn the_data_file_stays_within_three_times_the_state() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = RedbStorage::open(dir.path()).unwrap();
        s.recover().unwrap();
        let mut log_next = 0u64;
        let step = 40_000;
        let rounds = 80u64;
        for round in 1..=rounds {
            for _ in 0..20 {
                let entry = vec![round as u8; 2048];
                s.commit(&Commit {
                    meta: vec![("log_next", encode(&(log_next + 1)))],
                    log: Some((log_next, &entry)),
                    ..Commit::default()
                })
                .unwrap();
                log_next += 1;
            }
            let snapshot = vec![round as u8; round as usize * step];
            s.commit(&Commit {
                snapshot: Some((log_next, &snapshot)),
                ..Commit::default()
            })
            .unwrap();
        }
        let state = rounds as usize * step;
        let file = std::fs::metadata(dir.path().join(FILE_NAME)).unwrap().len() as usize;
        assert!(
            file <= 3 * state,
            "the data file holds {file} bytes for a state of {state}"
        );
    }

    #[test]
    fn a_memory_disk_keeps_its_store_across_a_crash_and_reopen() {
        let disk = MemoryDisk::new();
        assert!(disk.is_empty());
        let batch = [fact(1)];
        {
            let mut s = RedbStorage::open_memory(&disk, "mem").unwrap();
            assert_eq!(s.recover().unwrap().meta.len(), 1, "the creation marker");
            let e = encode(&5u64);
            s.commit(&Commit {
                meta: vec![("log_next", encode(&1u64))],
                log: Some((0, &e)),
                outbox_add: vec![("p", 1, &batch)],
                ..Commit::default()
            })
            .unwrap();
            assert!(!disk.is_empty());
            // The process dies: the database is dropped without a clean shutdown.
            disk.cut_power();
        }
        // A clone shares the bytes.
        let again = disk.clone();
        let mut s = RedbStorage::open_memory(&again, "mem").unwrap();
        assert!(!s.rolled_back());
        let r = s.recover().unwrap();
        assert_eq!(decode::<u64>(&r.meta["log_next"]).unwrap(), 1);
        assert_eq!(r.log.len(), 1);
        assert_eq!(r.outbox, vec![("p".to_string(), 1, batch.to_vec())]);
        assert_eq!(s.location(), "mem");
        // Opening the disk again cuts the first writer off: its commits no longer reach it.
        let before = disk.bytes();
        let _other = RedbStorage::open_memory(&disk, "mem").unwrap();
        let after_open = disk.bytes();
        let _ = s.commit(&Commit {
            outbox_remove: vec![("p".into(), 1)],
            ..Commit::default()
        });
        assert_eq!(disk.bytes(), after_open);
        assert_eq!(before.len(), after_open.len());
        assert!(format!("{disk:?}").len() < 200, "the bytes are not printed");
    }

    #[test]
    fn a_memory_disk_is_a_sparse_file() {
        let disk = MemoryDisk::new();
        let b = disk.backend();
        b.set_len(3 * DISK_PAGE as u64).unwrap();
        assert_eq!(disk.len(), 3 * DISK_PAGE);
        // A write across two pages, read back across three.
        let data: Vec<u8> = (0..DISK_PAGE + 10).map(|i| (i % 251) as u8 + 1).collect();
        b.write(DISK_PAGE as u64 - 5, &data).unwrap();
        let mut out = vec![7; 3 * DISK_PAGE];
        b.read(0, &mut out).unwrap();
        assert!(out[..DISK_PAGE - 5].iter().all(|&x| x == 0));
        assert_eq!(&out[DISK_PAGE - 5..2 * DISK_PAGE + 5], &data[..]);
        assert!(out[2 * DISK_PAGE + 5..].iter().all(|&x| x == 0));
        assert_eq!(disk.bytes(), out);
        // Past the end: an error, not a panic.
        assert!(b.read(3 * DISK_PAGE as u64 - 1, &mut [0; 2]).is_err());
        assert!(b.write(u64::MAX, &[1]).is_err());
        // Shrunk, then grown: what was cut off reads as zeros.
        b.set_len(DISK_PAGE as u64 + 3).unwrap();
        b.set_len(2 * DISK_PAGE as u64).unwrap();
        let mut out = vec![9; 2 * DISK_PAGE];
        b.read(0, &mut out).unwrap();
        assert_eq!(&out[DISK_PAGE - 5..DISK_PAGE + 3], &data[..8]);
        assert!(out[DISK_PAGE + 3..].iter().all(|&x| x == 0));
        // A backend opened later cuts this one off.
        let later = disk.backend();
        b.write(0, &[1, 2, 3]).unwrap();
        b.set_len(0).unwrap();
        assert_eq!(disk.bytes(), out);
        later.write(0, &[1, 2, 3]).unwrap();
        assert_eq!(disk.bytes()[..4], [1, 2, 3, 0]);
    }

    #[test]
    fn a_failing_sync_fails_the_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let backend = FaultyBackend::open(&path).unwrap();
        let syncs = backend.syncs_left.clone();
        let mut s = RedbStorage::open_with_backend(backend, &path).unwrap();
        let e = encode(&1u64);
        s.commit(&Commit {
            log: Some((0, &e)),
            ..Commit::default()
        })
        .unwrap();
        syncs.store(0, Ordering::SeqCst);
        let err = s
            .commit(&Commit {
                log: Some((1, &e)),
                ..Commit::default()
            })
            .unwrap_err();
        assert!(err.message.contains("commit failed"), "{err}");
    }
}
