//! The shared Kubernetes layer every component builds on: the API client, the informer, merge
//! patch, conditions, time, klog lines, label/field selectors, the contract constants, node and
//! pod networking, pod port specs and the one iptables runner. Components import from here and
//! never from each other; nothing here imports a component.

pub mod base64;
pub mod cli;
pub mod client;
pub mod conditions;
pub mod contract;
pub mod events;
pub mod informer;
pub mod iptables;
pub mod klog;
pub mod net;
pub mod object;
pub mod patch;
pub mod patchmeta;
pub mod ports;
pub mod printers;
pub mod process;
pub mod resource;
pub mod resource_meta;
pub mod selectors;
pub mod strategic;
pub mod stream;
pub mod time;
