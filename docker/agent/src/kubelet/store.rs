//! The kubelet's persistent state: one JSON record per pod it runs (IP, PID, veth, restarts)
//! under `/var/lib/kplab/kubelet/pods/`, written atomically, so a restarted kubelet re-adopts
//! running pods and keeps their IPs instead of starting duplicates. The IP allocator is the
//! set of recorded IPs plus a round-robin cursor (a released IP is not reused at once).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What the kubelet remembers about one pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodRecord {
    /// Namespace.
    pub namespace: String,
    /// Pod name.
    pub name: String,
    /// `metadata.uid` of the pod object this record belongs to.
    pub uid: String,
    /// The pod's IP.
    pub ip: Ipv4Addr,
    /// PID of the pod's process (its netns is `/proc/PID/ns/net`); 0 when not running.
    pub pid: u32,
    /// Node-side veth name.
    pub veth: String,
    /// RFC 3339 time the pod first started.
    pub start_time: String,
    /// RFC 3339 time the current process started.
    pub started_at: String,
    /// How often the process was restarted.
    pub restart_count: u32,
    /// Last exit of a previous process (for `lastState`), if any.
    #[serde(default)]
    pub last_exit: Option<LastExit>,
}

/// How a previous incarnation of the pod's process ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastExit {
    /// Exit code (128+signal for a signal).
    pub exit_code: i32,
    /// When it started.
    pub started_at: String,
    /// When it was found dead.
    pub finished_at: String,
}

impl PodRecord {
    /// `<ns>/<name>`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// Errors reading or writing the state directory.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Every address of the pod CIDR is taken.
    #[error("no free IP address left in {cidr} ({used} in use)")]
    Exhausted {
        /// The pod CIDR.
        cidr: String,
        /// How many are allocated.
        used: usize,
    },
}

/// The state directory.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// A store under `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Store {
        Store { dir: dir.into() }
    }

    fn pods_dir(&self) -> PathBuf {
        self.dir.join("pods")
    }

    fn record_path(&self, namespace: &str, name: &str) -> PathBuf {
        self.pods_dir().join(format!("{namespace}_{name}.json"))
    }

    /// Every readable record; unreadable files are reported on stderr and skipped.
    pub fn load_all(&self) -> Vec<PodRecord> {
        let Ok(rd) = std::fs::read_dir(self.pods_dir()) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for e in rd.flatten() {
            let p = e.path();
            if p.extension().and_then(|x| x.to_str()) != Some("json") {
                continue;
            }
            match std::fs::read(&p)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice::<PodRecord>(&b).map_err(|e| e.to_string()))
            {
                Ok(r) => out.push(r),
                Err(e) => eprintln!(
                    "kubelet: ignoring unreadable pod record {}: {e}",
                    p.display()
                ),
            }
        }
        out.sort_by_key(|r| r.key());
        out
    }

    /// Writes a record atomically (temp file + rename).
    pub fn save(&self, rec: &PodRecord) -> Result<(), StoreError> {
        let path = self.record_path(&rec.namespace, &rec.name);
        let body = serde_json::to_vec_pretty(rec).expect("a PodRecord always serializes");
        write_atomic(&path, &body)
    }

    /// Removes a record (releasing its IP). A missing record is fine.
    pub fn remove(&self, namespace: &str, name: &str) -> Result<(), StoreError> {
        let path = self.record_path(namespace, name);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StoreError::Io { path, source }),
        }
    }

    /// Picks a free address of `10.244.N.0/24` (never `.0`, the tunnel address, nor `.255`),
    /// after the last one handed out, and remembers the cursor.
    pub fn allocate(
        &self,
        node_index: u32,
        used: &BTreeSet<Ipv4Addr>,
    ) -> Result<Ipv4Addr, StoreError> {
        let cursor_path = self.dir.join("ipam-last");
        let last: u8 = std::fs::read_to_string(&cursor_path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        let ip = next_free(node_index, last, used).ok_or_else(|| StoreError::Exhausted {
            cidr: crate::kube::net::pod_cidr(node_index),
            used: used.len(),
        })?;
        write_atomic(&cursor_path, ip.octets()[3].to_string().as_bytes())?;
        Ok(ip)
    }
}

/// The first free host address after `last` in `10.244.N.1 ..= 10.244.N.254`, wrapping.
pub fn next_free(node_index: u32, last: u8, used: &BTreeSet<Ipv4Addr>) -> Option<Ipv4Addr> {
    (1..=254u32)
        .map(|k| ((u32::from(last) + k - 1) % 254 + 1) as u8)
        .map(|host| Ipv4Addr::new(10, 244, node_index as u8, host))
        .find(|ip| !used.contains(ip))
}

/// Writes `body` to `path` through a temporary file and a rename.
pub fn write_atomic(path: &Path, body: &[u8]) -> Result<(), StoreError> {
    let io = |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, body).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(name: &str, ip: &str) -> PodRecord {
        PodRecord {
            namespace: "default".into(),
            name: name.into(),
            uid: format!("uid-{name}"),
            ip: ip.parse().unwrap(),
            pid: 42,
            veth: crate::kube::net::veth_name("default", name),
            start_time: "2026-01-01T00:00:00Z".into(),
            started_at: "2026-01-01T00:00:00Z".into(),
            restart_count: 0,
            last_exit: None,
        }
    }

    #[test]
    fn allocation_skips_the_tunnel_address_and_used_ones_round_robin() {
        let mut used = BTreeSet::new();
        assert_eq!(next_free(2, 0, &used).unwrap().to_string(), "10.244.2.1");
        used.insert("10.244.2.1".parse().unwrap());
        assert_eq!(next_free(2, 0, &used).unwrap().to_string(), "10.244.2.2");
        assert_eq!(next_free(2, 7, &used).unwrap().to_string(), "10.244.2.8");
        assert_eq!(next_free(2, 254, &used).unwrap().to_string(), "10.244.2.2");
        let full: BTreeSet<Ipv4Addr> = (1..=254u8).map(|h| Ipv4Addr::new(10, 244, 2, h)).collect();
        assert_eq!(next_free(2, 0, &full), None);
    }

    #[test]
    fn records_round_trip_and_the_cursor_persists() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        assert!(store.load_all().is_empty());
        store.save(&rec("a", "10.244.1.1")).unwrap();
        store.save(&rec("b", "10.244.1.2")).unwrap();
        let all = store.load_all();
        assert_eq!(all, vec![rec("a", "10.244.1.1"), rec("b", "10.244.1.2")]);
        let used: BTreeSet<Ipv4Addr> = all.iter().map(|r| r.ip).collect();
        assert_eq!(store.allocate(1, &used).unwrap().to_string(), "10.244.1.3");
        // After releasing b, the next allocation still moves forward.
        store.remove("default", "b").unwrap();
        store.remove("default", "b").unwrap();
        let used: BTreeSet<Ipv4Addr> = store.load_all().iter().map(|r| r.ip).collect();
        assert_eq!(store.allocate(1, &used).unwrap().to_string(), "10.244.1.4");
        let again = Store::new(dir.path());
        assert_eq!(again.allocate(1, &used).unwrap().to_string(), "10.244.1.5");
    }
}
