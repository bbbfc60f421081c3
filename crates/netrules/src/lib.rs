//! Pure rule generation: Kubernetes Service objects -> kube-proxy (iptables mode) rulesets and restore text.
