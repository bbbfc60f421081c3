//! The seccomp profile of every lab container: `docker/seccomp.json`, compiled in.
//!
//! A lab node needs `CAP_SYS_ADMIN` for one thing: a pod is a process that unshares its network
//! namespace, and `kubectl exec` enters it with `nsenter --net`. Docker's default profile opens
//! every syscall that `CAP_SYS_ADMIN` guards once the capability is granted (the mount family,
//! `bpf`, `perf_event_open`, `setns` and `unshare` of any kind, …), and on a cgroup v1 host
//! without AppArmor a writable cgroup `release_agent` is then one `mount` away: root on the host.
//! This profile is an allowlist of what the lab needs, with `unshare` limited to
//! `CLONE_NEWNET`, `setns` to network namespaces, and `clone` to no namespace at all. Docker
//! takes it as `--security-opt seccomp=<json>`; the tests below pin what it must refuse.

/// The profile, as Docker's `seccomp=` security option takes it.
pub const PROFILE: &str = include_str!("../../../docker/seccomp.json");

/// Syscalls the profile must never allow, whatever the arguments: what a learner with
/// `CAP_SYS_ADMIN` would use to leave the lab or to reach the host kernel's wider surface.
pub const DENIED: &[&str] = &[
    "mount",
    "umount",
    "umount2",
    "pivot_root",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "move_mount",
    "open_tree",
    "mount_setattr",
    "bpf",
    "perf_event_open",
    "syslog",
    "open_by_handle_at",
    "name_to_handle_at",
    "keyctl",
    "add_key",
    "request_key",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "quotactl",
    "quotactl_fd",
    "lookup_dcookie",
    "fanotify_init",
    "sethostname",
    "setdomainname",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "iopl",
    "ioperm",
    "vhangup",
    "modify_ldt",
];

/// `CLONE_NEWNET`, the one namespace flag a lab process may use.
pub const CLONE_NEWNET: u64 = 0x4000_0000;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn rules() -> Vec<Value> {
        let p: Value = serde_json::from_str(PROFILE).expect("docker/seccomp.json is JSON");
        assert_eq!(p["defaultAction"], "SCMP_ACT_ERRNO", "an allowlist");
        p["syscalls"].as_array().expect("syscalls").clone()
    }

    fn rules_for(name: &str) -> Vec<Value> {
        rules()
            .into_iter()
            .filter(|r| {
                r["names"]
                    .as_array()
                    .is_some_and(|n| n.iter().any(|x| x == name))
            })
            .collect()
    }

    #[test]
    fn escape_primitives_are_never_allowed() {
        for name in DENIED {
            for r in rules_for(name) {
                assert_ne!(r["action"], "SCMP_ACT_ALLOW", "{name} is allowed by {r}");
            }
        }
    }

    /// The argument condition of the one rule for `name`.
    fn sole_condition(name: &str) -> Value {
        let r = rules_for(name);
        assert_eq!(r.len(), 1, "{r:?}");
        r[0]["args"][0].clone()
    }

    #[test]
    fn unshare_is_for_network_namespaces_only() {
        let arg = sole_condition("unshare");
        assert_eq!(arg["index"], 0);
        assert_eq!(arg["op"], "SCMP_CMP_MASKED_EQ");
        assert_eq!(arg["valueTwo"], 0);
        let mask = arg["value"].as_u64().unwrap();
        assert_eq!(mask & CLONE_NEWNET, 0, "CLONE_NEWNET passes");
        // CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC.
        for flag in [
            0x0002_0000u64,
            0x1000_0000,
            0x2000_0000,
            0x0200_0000,
            0x0400_0000,
            0x0800_0000,
        ] {
            assert_eq!(mask & flag, flag, "{flag:#x} must be refused");
        }
    }

    #[test]
    fn setns_enters_network_namespaces_only() {
        let arg = sole_condition("setns");
        assert_eq!(arg["index"], 1);
        assert_eq!(arg["op"], "SCMP_CMP_EQ");
        assert_eq!(arg["value"].as_u64(), Some(CLONE_NEWNET));
    }

    #[test]
    fn clone_creates_no_namespace_and_clone3_falls_back() {
        let r = rules_for("clone");
        assert_eq!(r.len(), 1, "{r:?}");
        assert_eq!(r[0]["args"][0]["op"], "SCMP_CMP_MASKED_EQ");
        assert_eq!(r[0]["args"][0]["value"].as_u64(), Some(0x7E02_0000));
        let r3 = rules_for("clone3");
        assert_eq!(r3.len(), 1);
        assert_eq!(r3[0]["action"], "SCMP_ACT_ERRNO");
        assert_eq!(r3[0]["errnoRet"], 38, "ENOSYS, so libc uses clone");
    }

    #[test]
    fn what_the_lab_needs_is_allowed() {
        for name in [
            "socket",
            "sendmsg",
            "recvmsg",
            "execve",
            "clone",
            "wait4",
            "ioctl",
            "epoll_wait",
            "openat",
            "ptrace",
            "chroot",
        ] {
            assert!(
                rules_for(name)
                    .iter()
                    .any(|r| r["action"] == "SCMP_ACT_ALLOW"),
                "{name} must be allowed"
            );
        }
    }
}
