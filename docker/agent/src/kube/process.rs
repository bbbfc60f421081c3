//! Starting a helper program whose output we read: the iptables runner, `kubectl exec` in the
//! kubelet and the trace sender.

use std::process::{Child, Command, Stdio};

/// Starts `cmd` with stdout and stderr piped to us, and stdin piped when `with_stdin` (else
/// closed).
pub fn spawn_piped(cmd: &mut Command, with_stdin: bool) -> std::io::Result<Child> {
    cmd.stdin(if with_stdin {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
}
