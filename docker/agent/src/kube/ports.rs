//! A container port as the kubelet hands it to a pod process (`80`, `80/TCP`, `53/udp`).

/// Transport protocol of a container port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Protocol {
    /// TCP: HTTP/1.1 or line-oriented.
    Tcp,
    /// UDP: one JSON line per datagram.
    Udp,
}

impl Protocol {
    /// `TCP` / `UDP`, as Kubernetes spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
        }
    }
}

/// One port the pod answers on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PortSpec {
    /// The containerPort.
    pub port: u16,
    /// Its protocol.
    pub protocol: Protocol,
}

/// The ports a pod serves, in order and without repeats: `80/TCP` when it declares none.
pub fn served_ports(mut ports: Vec<PortSpec>) -> Vec<PortSpec> {
    if ports.is_empty() {
        ports.push(PortSpec {
            port: 80,
            protocol: Protocol::Tcp,
        });
    }
    ports.sort();
    ports.dedup();
    ports
}

impl std::fmt::Display for PortSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.port, self.protocol.as_str())
    }
}

impl std::str::FromStr for PortSpec {
    type Err = String;

    /// Parses `80`, `80/TCP`, `53/udp`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (p, proto) = s.split_once('/').unwrap_or((s, "TCP"));
        let port: u16 = p
            .parse()
            .map_err(|_| format!("invalid port {p:?} in {s:?}: expected 1-65535"))?;
        if port == 0 {
            return Err(format!("invalid port 0 in {s:?}"));
        }
        let protocol = match proto.to_ascii_uppercase().as_str() {
            "TCP" => Protocol::Tcp,
            "UDP" => Protocol::Udp,
            other => {
                return Err(format!(
                    "unsupported protocol {other:?} in {s:?}: expected TCP or UDP"
                ))
            }
        };
        Ok(PortSpec { port, protocol })
    }
}
