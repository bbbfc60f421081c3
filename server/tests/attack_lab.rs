//! Attacks on a lab from a learner's root shell, each a scenario that fails if the attack works.
//! One two-node lab (`hs-attack`) and a second lab (`hs-attack-b`) as the neighbour that must
//! not notice. The commands run as the learner's do: `docker exec` into the node, as root, with
//! the container's capabilities, seccomp profile and limits (the web terminal is the same exec
//! with a TTY). System calls are made with perl's `syscall` (perl-base is in every Debian
//! image), so each one is tried for real, with arguments the kernel would accept.
//!
//! Seen to succeed before the hardening (a node container with the old settings: the three
//! capabilities, Docker's default seccomp profile, a writable root): every syscall attack of
//! `SYSCALLS` marked `before: ok`, `mount` of tmpfs, proc and a cgroup v1 hierarchy with a
//! writable `release_agent`, `unshare -m`, writing 200 MiB to `/`, replacing
//! `/usr/local/bin/kubectl` and `/usr/sbin/iptables-save`, running a binary copied to `/tmp`.

use kplab_testkit::lab as common;

use std::time::{Duration, Instant};

use common::{run_scenarios, wait_for, Scenario, TestLab};
use kplab::sandbox::LabOptions;

/// Tries one system call for real and prints `NAME=ok` or `NAME=<errno>`.
const SYSCALL_PL: &str = r#"
use strict;
sub ptr { unpack("Q", pack("p", $_[0])) }
my $what = shift;
my ($r, $keep);
if ($what eq "bpf") {
    # BPF_PROG_LOAD of a socket filter "r0 = 0; exit".
    my $insns = pack("CCsl", 0xb7, 0, 0, 0) . pack("CCsl", 0x95, 0, 0, 0);
    my $lic = "GPL\0";
    my $attr = pack("LLQQLLQL", 1, 2, ptr($insns), ptr($lic), 0, 0, 0, 0) . ("\0" x 76);
    $keep = [$insns, $lic];
    $r = syscall(321, 5, $attr, length $attr);
} elsif ($what eq "perf_event_open") {
    # A software CPU clock on CPU 0, every process: system-wide.
    my $attr = pack("LLQ", 1, 64, 0) . ("\0" x 48);
    $r = syscall(298, $attr, -1, 0, -1, 0);
} elsif ($what eq "fsopen") {
    my $fs = "tmpfs";
    $r = syscall(430, $fs, 0);
} elsif ($what eq "open_tree") {
    my $path = "/";
    $r = syscall(428, -100, $path, 1);
} elsif ($what eq "mount") {
    my ($src, $dst, $fs) = ("none", "/mnt", "tmpfs");
    $r = syscall(165, $src, $dst, $fs, 0, 0);
} elsif ($what eq "umount2") {
    my $path = "/etc/hostname";
    $r = syscall(166, $path, 2);
} elsif ($what eq "pivot_root") {
    my ($new, $old) = ("/tmp", "/tmp");
    $r = syscall(155, $new, $old);
} elsif ($what eq "syslog") {
    my $buf = "\0" x 4096;
    $r = syscall(103, 3, $buf, 4096);
} elsif ($what eq "keyctl") {
    $r = syscall(250, 0, -3, 1);
} elsif ($what eq "userfaultfd") {
    $r = syscall(323, 0);
} elsif ($what eq "io_uring_setup") {
    my $p = "\0" x 120;
    $r = syscall(425, 1, $p);
} elsif ($what eq "unshare_mount") {
    $r = syscall(272, 0x20000);
} elsif ($what eq "unshare_user") {
    $r = syscall(272, 0x10000000);
} elsif ($what eq "unshare_cgroup") {
    $r = syscall(272, 0x02000000);
} elsif ($what eq "unshare_net") {
    $r = syscall(272, 0x40000000);
} elsif ($what eq "setns_mount") {
    open(my $f, "<", "/proc/1/ns/mnt") or die "open: $!";
    $r = syscall(308, fileno($f), 0x20000);
} elsif ($what eq "setns_any") {
    open(my $f, "<", "/proc/1/ns/net") or die "open: $!";
    $r = syscall(308, fileno($f), 0);
} elsif ($what eq "setns_net") {
    open(my $f, "<", "/proc/1/ns/net") or die "open: $!";
    $r = syscall(308, fileno($f), 0x40000000);
} elsif ($what eq "sethostname") {
    my $name = "evil";
    $r = syscall(170, $name, 4);
} elsif ($what eq "open_by_handle_at") {
    my $h = pack("LL", 8, 1) . ("\0" x 8);
    $r = syscall(304, -100, $h, 0);
} elsif ($what eq "kexec_load") {
    $r = syscall(246, 0, 0, 0, 0);
} elsif ($what eq "init_module") {
    my ($image, $params) = ("\0" x 16, "");
    $r = syscall(175, $image, 16, $params);
} else {
    die "unknown attack $what";
}
print "$what=", ($r == -1 ? ($! + 0) : "ok"), "\n";
"#;

/// EPERM: what the seccomp profile answers.
const EPERM: &str = "1";

/// The syscall attacks: name, and whether it went through before the hardening (`true`: the
/// old settings let it reach the kernel and succeed). Every one must now fail with EPERM.
const SYSCALLS: &[(&str, bool)] = &[
    ("bpf", true),
    ("perf_event_open", true),
    ("fsopen", true),
    ("open_tree", true),
    ("mount", true),
    ("umount2", true),
    ("syslog", false),
    ("unshare_mount", true),
    ("unshare_user", true),
    ("unshare_cgroup", true),
    ("setns_mount", true),
    ("setns_any", true),
    ("sethostname", true),
    ("pivot_root", false),
    ("keyctl", false),
    ("userfaultfd", false),
    ("io_uring_setup", false),
    ("open_by_handle_at", false),
    ("kexec_load", false),
    ("init_module", false),
];

fn syscall(lab: &TestLab, node: usize, what: &str) -> String {
    let out = lab.exec(lab.node(node), &["perl", "-e", SYSCALL_PL, what]);
    assert!(
        out.stdout.starts_with(&format!("{what}=")),
        "perl {what}: exit {} stdout {:?} stderr {:?}",
        out.code,
        out.stdout,
        out.stderr
    );
    out.stdout
        .trim()
        .trim_start_matches(&format!("{what}="))
        .to_string()
}

fn escape_syscalls_fail_with_eperm(lab: &TestLab) {
    let mut worked = Vec::new();
    for (name, _) in SYSCALLS {
        let got = syscall(lab, 1, name);
        if got != EPERM {
            worked.push(format!("{name}={got}"));
        }
    }
    assert!(worked.is_empty(), "not refused by seccomp: {worked:?}");
}

fn pods_still_get_their_network_namespaces(lab: &TestLab) {
    assert_eq!(syscall(lab, 1, "unshare_net"), "ok");
    assert_eq!(syscall(lab, 1, "setns_net"), "ok");
    // `kubectl exec` into a pod on this node enters its namespace with nsenter.
    let pod = lab.kubectl_ok(&[
        "get",
        "pods",
        "-n",
        "kube-system",
        "-l",
        "k8s-app=kube-dns",
        "-o",
        "jsonpath={.items[0].metadata.name}",
    ]);
    let out = lab.kubectl(&[
        "exec",
        "-n",
        "kube-system",
        pod.trim(),
        "--",
        "ip",
        "-4",
        "addr",
    ]);
    assert!(
        out.success() && out.stdout.contains("10.244."),
        "kubectl exec into a pod: {out:?}"
    );
}

fn the_tools_the_labs_teach_still_work(lab: &TestLab) {
    for script in [
        "iptables-save -t nat | grep -q KUBE-SERVICES",
        "nft list ruleset | grep -q KUBE-SERVICES",
        "conntrack -L >/dev/null 2>&1",
        "ip -4 route show >/dev/null",
        "tcpdump -D | grep -q any",
        "timeout 5 tcpdump -n -c 1 -i lo icmp >/tmp/td.out 2>&1 & sleep 1; ping -c 2 -W 1 127.0.0.1 >/dev/null; wait; grep -q ICMP /tmp/td.out",
        "iptables -t raw -I OUTPUT -p icmp -d 127.0.0.9 -j TRACE && iptables -t raw -D OUTPUT -p icmp -d 127.0.0.9 -j TRACE",
        "echo 'apiVersion: v1' > /root/notes.yaml && cat /root/notes.yaml && rm /root/notes.yaml",
        "echo hi > /tmp/x && sh -c 'cat /tmp/x' && rm /tmp/x",
    ] {
        let out = lab.sh(lab.node(1), script);
        assert!(out.success(), "{script}: {out:?}");
    }
}

fn mount_tmpfs_proc_and_cgroup_fail(lab: &TestLab) {
    for script in [
        "mount -t tmpfs none /mnt",
        "mount -t proc proc /mnt",
        "mkdir -p /tmp/cg && mount -t cgroup -o memory cgroup /tmp/cg",
        "mkdir -p /tmp/cg2 && mount -t cgroup2 none /tmp/cg2",
        "unshare -m sh -c 'mount -t tmpfs none /mnt'",
        "unshare -U -r true",
        "ip netns add evil",
    ] {
        let out = lab.sh(lab.node(1), script);
        assert!(!out.success(), "{script} worked: {out:?}");
    }
    // The cgroup hierarchy Docker gives is read-only: no release_agent to write.
    let out = lab.sh(
        lab.node(1),
        "for f in $(find /sys/fs/cgroup -maxdepth 2 -name release_agent); do echo /tmp/x > $f && echo WROTE $f; done; true",
    );
    assert!(!out.stdout.contains("WROTE"), "{out:?}");
}

fn kernel_interfaces_stay_read_only(lab: &TestLab) {
    for script in [
        "echo '|/tmp/x' > /proc/sys/kernel/core_pattern",
        "echo c > /proc/sysrq-trigger",
        "echo 1 > /proc/sys/vm/drop_caches",
        "echo /tmp/x > /sys/kernel/uevent_helper",
        "dmesg",
        "mknod /tmp/sda b 8 0 && head -c 1 /tmp/sda",
        "insmod /lib/modules/x.ko",
    ] {
        let out = lab.sh(lab.node(1), script);
        assert!(!out.success(), "{script} worked: {out:?}");
    }
}

fn no_new_privileges_and_no_extra_capabilities(lab: &TestLab) {
    let status = lab.sh_ok(lab.node(1), "cat /proc/self/status");
    assert!(status.contains("NoNewPrivs:\t1"), "{status}");
    assert!(status.contains("Seccomp:\t2"), "{status}");
    let eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:\t"))
        .expect("CapEff");
    let eff = u64::from_str_radix(eff.trim(), 16).expect("hex");
    // CAP_SYS_MODULE 16, CAP_SYS_RAWIO 17, CAP_SYS_PTRACE 19, CAP_SYS_BOOT 22,
    // CAP_SYS_RESOURCE 24, CAP_SYS_TIME 25, CAP_DAC_READ_SEARCH 2, CAP_BPF 39, CAP_PERFMON 38.
    for cap in [2, 16, 17, 19, 22, 24, 25, 38, 39] {
        assert_eq!(eff & (1 << cap), 0, "capability {cap} is held: {eff:#x}");
    }
}

fn filling_the_disk_stops_inside_the_lab(lab: &TestLab) {
    let out = lab.sh(
        lab.node(1),
        "dd if=/dev/zero of=/tmp/fill bs=1M count=200 2>&1",
    );
    assert!(
        !out.success() && out.stdout.contains("No space left on device"),
        "{out:?}"
    );
    lab.sh_ok(lab.node(1), "rm -f /tmp/fill");
    for path in ["/fill", "/usr/fill", "/etc/fill", "/var/fill", "/opt/fill"] {
        let out = lab.sh(
            lab.node(1),
            &format!("dd if=/dev/zero of={path} bs=1M count=200 2>&1"),
        );
        assert!(
            !out.success() && out.stdout.contains("Read-only file system"),
            "{path}: {out:?}"
        );
    }
    // Nothing reached the container's writable layer on the host's disk.
    let size = common::rt()
        .block_on(lab.driver().writable_layer_bytes(lab.node(1)))
        .expect("inspect");
    assert!(size < 1 << 20, "the container's layer grew to {size} bytes");
}

fn tools_the_grader_runs_cannot_be_replaced(lab: &TestLab) {
    for target in [
        "/usr/local/bin/kplab-agent",
        "/usr/local/bin/kubectl",
        "/usr/sbin/iptables-save",
        "/usr/sbin/iptables-nft-save",
        "/usr/sbin/conntrack",
        "/usr/bin/timeout",
        "/usr/bin/choom",
        "/bin/sh",
    ] {
        let fingerprint = format!("sha256sum {target}; readlink -f {target}");
        let before = lab.sh_ok(lab.node(1), &fingerprint);
        for attempt in [
            format!("printf '#!/bin/sh\\necho forged\\n' > {target}"),
            format!("cp /bin/true {target}"),
            format!("rm -f {target}"),
            format!("ln -sf /bin/true {target}"),
            format!("touch /tmp/x && mv /tmp/x {target}"),
        ] {
            let out = lab.sh(lab.node(1), &attempt);
            assert!(!out.success(), "{attempt} worked: {out:?}");
        }
        assert_eq!(
            lab.sh_ok(lab.node(1), &fingerprint),
            before,
            "{target} changed"
        );
    }
    // A forged tool in a writable place is not what the grader's PATH finds.
    lab.sh_ok(
        lab.node(1),
        "mkdir -p /root/bin && printf '#!/bin/sh\\necho forged\\n' > /root/bin/iptables-save && chmod +x /root/bin/iptables-save",
    );
    let out = lab.exec(lab.node(1), &["iptables-save", "-t", "nat"]);
    assert!(out.success() && out.stdout.contains("*nat"), "{out:?}");
}

fn binaries_brought_into_the_lab_do_not_run(lab: &TestLab) {
    for dir in ["/tmp", "/root", "/var/tmp", "/run", "/var/log", "/dev/shm"] {
        let out = lab.sh(
            lab.node(1),
            &format!("cp /bin/true {dir}/t && chmod +x {dir}/t && {dir}/t"),
        );
        assert!(!out.success(), "a binary ran from {dir}: {out:?}");
        let out = lab.sh(lab.node(1), &format!("/lib64/ld-linux-x86-64.so.2 {dir}/t"));
        assert!(!out.success(), "ld.so ran a binary from {dir}: {out:?}");
        lab.sh(lab.node(1), &format!("rm -f {dir}/t"));
    }
}

/// The PIDs of the control plane's processes on node-1.
fn control_plane(lab: &TestLab) -> String {
    lab.sh_ok(
        lab.node(1),
        "for c in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy calico-node; do echo \"$c $(pgrep -f \"^$c \")\"; done",
    )
}

/// A Service created now gets its rules and answers from the client: the lab works.
fn serves_a_new_service(lab: &TestLab, name: &str) {
    lab.kubectl_ok(&["create", "deployment", name, "--image=nginx", "--port=80"]);
    lab.kubectl_ok(&["expose", "deployment", name, "--port=80", "--type=NodePort"]);
    let port = wait_for("a node port", Duration::from_secs(30), || {
        let p = lab.kubectl_ok(&[
            "get",
            "svc",
            name,
            "-o",
            "jsonpath={.spec.ports[0].nodePort}",
        ]);
        (!p.trim().is_empty()).then(|| p.trim().to_string())
    });
    let ip = lab.node_ip(1).to_string();
    wait_for(
        &format!("{name} answering on {ip}:{port}"),
        Duration::from_secs(60),
        || {
            let out = lab.sh(lab.client(), &format!("curl -s -m 2 http://{ip}:{port}/"));
            out.stdout.contains(name).then_some(())
        },
    );
    lab.kubectl_ok(&["delete", "service", name]);
    lab.kubectl_ok(&["delete", "deployment", name]);
}

fn a_memory_hog_dies_before_the_control_plane(lab: &TestLab) {
    let before = control_plane(lab);
    let t = Instant::now();
    // tail keeps the one endless line in memory: it grows until the OOM killer takes it.
    let out = lab.sh(
        lab.node(1),
        "head -c 2000m /dev/zero | tail -n 1 >/dev/null; echo exit=$?",
    );
    eprintln!(
        "memory hog: {:?} after {:.1} s",
        out.stdout.trim(),
        t.elapsed().as_secs_f64()
    );
    assert!(
        !out.stdout.contains("exit=0"),
        "the hog was not stopped: {out:?}"
    );
    assert_eq!(control_plane(lab), before, "a control-plane process died");
    serves_a_new_service(lab, "after-hog");
}

fn a_fork_bomb_leaves_the_control_plane_and_the_other_lab_alone(lab: &TestLab, other: &TestLab) {
    let before = control_plane(lab);
    let other_before = control_plane(other);
    let t = Instant::now();
    // Bounded: every process stops forking after 10 s and exits.
    let out = lab.exec(
        lab.node(1),
        &[
            "bash",
            "-c",
            "end=$((EPOCHSECONDS+10)); b() { while (( EPOCHSECONDS < end )); do b & b & wait; done; }; b 2>/tmp/bomb.err; echo \"fork failures: $(grep -c 'Resource temporarily unavailable' /tmp/bomb.err)\"; rm -f /tmp/bomb.err",
        ],
    );
    eprintln!(
        "fork bomb ended after {:.1} s: {:?}",
        t.elapsed().as_secs_f64(),
        out.stdout.trim()
    );
    // Its stragglers are gone before the lab is judged.
    wait_for(
        "the fork bomb's processes to exit",
        Duration::from_secs(60),
        || {
            let n = lab.sh(lab.node(1), "ps -e --no-headers | wc -l");
            n.stdout
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| *n < 200)
                .map(|_| ())
        },
    );
    assert_eq!(control_plane(lab), before, "a control-plane process died");
    assert_eq!(control_plane(other), other_before, "the other lab noticed");
    serves_a_new_service(lab, "after-bomb");
}

fn the_node_reaches_services_without_dockers_default_route(lab: &TestLab) {
    // Docker 25 and later give no default route on an internal network: take Docker's away.
    lab.sh_ok(lab.node(2), "ip route del default || true");
    let vip = lab.kubectl_ok(&[
        "get",
        "svc",
        "kubernetes",
        "-o",
        "jsonpath={.spec.clusterIP}",
    ]);
    wait_for(
        "node-2 to reach the kubernetes Service without Docker's route",
        Duration::from_secs(30),
        || {
            let out = lab.sh(
                lab.node(2),
                &format!(
                    "curl -s -m 2 -o /dev/null -w '%{{http_code}}' http://{}:443/version",
                    vip.trim()
                ),
            );
            (out.stdout.trim() != "000" && !out.stdout.is_empty()).then_some(())
        },
    );
    let routes = lab.sh_ok(lab.node(2), "ip route show default");
    assert!(routes.contains("via"), "{routes}");
}

fn output_past_the_cap_is_cut_and_the_command_killed(lab: &TestLab) {
    let t = Instant::now();
    let out = common::rt()
        .block_on(lab.driver().exec_capped(
            lab.node(1),
            &["sh", "-c", "exec yes kplab-flood"],
            None,
            1 << 20,
        ))
        .expect("exec");
    assert!(out.truncated, "{:?}", &out.stdout[..64]);
    assert_eq!(out.stdout.len(), 1 << 20);
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    wait_for("the flood to be killed", Duration::from_secs(10), || {
        (!lab
            .sh(lab.node(1), "pgrep -f 'yes kplab-[f]lood'")
            .success())
        .then_some(())
    });
}

fn learner_commands_are_first_for_the_oom_killer(lab: &TestLab) {
    let adj = lab.sh_ok(lab.node(1), "cat /proc/self/oom_score_adj");
    assert_eq!(adj.trim(), "1000");
    let api = lab.sh_ok(
        lab.node(1),
        "cat /proc/$(pgrep -f '^kube-apiserver ')/oom_score_adj",
    );
    assert_eq!(api.trim(), "0");
}

#[test]
#[ignore = "needs Docker and root"]
fn a_learners_root_shell_stays_inside_its_lab() {
    let lab = TestLab::up_with("hs-attack", LabOptions::default());
    let other = TestLab::up_with(
        "hs-attack-b",
        LabOptions {
            nodes: 1,
            ..LabOptions::default()
        },
    );
    let scenarios: &[Scenario] = &[
        (
            "escape syscalls fail with EPERM",
            escape_syscalls_fail_with_eperm,
        ),
        (
            "pods still get their network namespaces",
            pods_still_get_their_network_namespaces,
        ),
        (
            "the tools the labs teach still work",
            the_tools_the_labs_teach_still_work,
        ),
        (
            "mount of tmpfs, proc and cgroups fails",
            mount_tmpfs_proc_and_cgroup_fail,
        ),
        (
            "kernel interfaces stay read-only",
            kernel_interfaces_stay_read_only,
        ),
        (
            "no new privileges, no extra capabilities",
            no_new_privileges_and_no_extra_capabilities,
        ),
        (
            "filling the disk stops inside the lab",
            filling_the_disk_stops_inside_the_lab,
        ),
        (
            "tools the grader runs cannot be replaced",
            tools_the_grader_runs_cannot_be_replaced,
        ),
        (
            "binaries brought into the lab do not run",
            binaries_brought_into_the_lab_do_not_run,
        ),
        (
            "learner commands are first for the OOM killer",
            learner_commands_are_first_for_the_oom_killer,
        ),
        (
            "output past the cap is cut and the command killed",
            output_past_the_cap_is_cut_and_the_command_killed,
        ),
        (
            "the node reaches Services without Docker's default route",
            the_node_reaches_services_without_dockers_default_route,
        ),
        (
            "a memory hog dies before the control plane",
            a_memory_hog_dies_before_the_control_plane,
        ),
    ];
    let scenarios_passed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_scenarios(&lab, scenarios)
    }));
    // Last: it needs the neighbour lab, and a fork bomb is the roughest thing done to the lab.
    a_fork_bomb_leaves_the_control_plane_and_the_other_lab_alone(&lab, &other);
    if let Err(panic) = scenarios_passed {
        std::panic::resume_unwind(panic);
    }
}
