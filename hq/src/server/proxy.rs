//! `hq serve --proxy-protocol FROM`: behind a TCP load balancer, the client's address from
//! the header the balancer sends first on each connection (HAProxy's PROXY protocol,
//! versions 1 and 2: HAProxy's `send-proxy`/`send-proxy-v2`, nginx's `proxy_protocol on`,
//! most cloud load balancers), instead of the balancer's own address.
//!
//! That address is what logins, enrolment codes and the like are throttled by
//! ([`crate::throttle`]) and what the log names: without it, every client behind one
//! balancer shares one address, and five wrong passwords from anyone lock every organizer
//! out. A header is believed only from the balancers named; a connection from anywhere
//! else, or one that does not begin with a header, is closed and logged.
//!
//! The header is read to its last byte and no further (the protocol's own lengths), so what
//! follows (a TLS handshake, an HTTP request) is read by the server as if the header had
//! never been there. The header is parsed by `ppp`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use ppp::{v1, v2};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::{TcpListener, TcpStream};

use super::accept::{Failed, Prepared};
use crate::metrics::Metrics;
use crate::{Error, Result};

/// The first twelve bytes of a version 2 header.
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// The first bytes of a version 1 header.
const V1_PREFIX: &[u8] = b"PROXY ";
/// The longest version 1 header, its line end included (the protocol's limit).
const V1_LONGEST: usize = 107;
/// The shortest header of either version (`PROXY UNKNOWN\r\n`), read at once.
const SHORTEST: usize = 15;

/// The load balancers or proxies whose headers are believed: addresses and networks.
#[derive(Clone, Debug, PartialEq)]
pub struct Trusted(Vec<IpNet>);

impl Trusted {
    /// Reads the list given to `flag` (`--proxy-protocol`, `--forwarded-for`): addresses
    /// and networks, separated by commas (`10.0.0.2,10.0.1.0/24,fd00::/8`).
    pub fn parse(flag: &str, list: &str) -> Result<Trusted> {
        let mut nets = Vec::new();
        for item in list.split(',').map(str::trim) {
            let net = match (item.parse::<IpNet>(), item.parse::<IpAddr>()) {
                (Ok(net), _) => net,
                (_, Ok(address)) => IpNet::from(address.to_canonical()),
                _ => {
                    return Err(Error::input(format!(
                        "{flag}: {item:?} is neither an address nor a network \
                         (10.0.0.2, 10.0.1.0/24, fd00::/8)"
                    )))
                }
            };
            nets.push(net);
        }
        Ok(Trusted(nets))
    }

    /// The networks named that hold more than one address, each said: every address in
    /// them is taken for a proxy, so a client among them that is none (another host of a
    /// cloud network, a VPN's) names its own address in `X-Forwarded-For`, and dodges the
    /// per-address login limits.
    pub fn wide(&self) -> Vec<String> {
        let wide = |net: &&IpNet| net.prefix_len() < net.max_prefix_len();
        self.0.iter().filter(wide).map(IpNet::to_string).collect()
    }

    /// Whether a connection from `address` is from a balancer named.
    pub fn admits(&self, address: IpAddr) -> bool {
        // A listener on `[::]` sees IPv4 clients as IPv4-mapped IPv6 addresses.
        let address = address.to_canonical();
        self.0.iter().any(|net| net.contains(&address))
    }
}

impl std::fmt::Display for Trusted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self.0.iter().map(IpNet::to_string).collect();
        f.write_str(&names.join(", "))
    }
}

/// Whether a connection's peer is one of `balancers`: its connections are its clients'.
pub fn balancer(balancers: Option<Arc<Trusted>>) -> impl Fn(IpAddr) -> bool + Send + 'static {
    move |address| balancers.as_ref().is_some_and(|b| b.admits(address))
}

/// Plain connections, each after its PROXY header, with the client's address the header's.
pub fn listener(
    tcp: TcpListener,
    trusted: Arc<Trusted>,
    metrics: Arc<Metrics>,
) -> std::io::Result<Prepared<TcpStream>> {
    Prepared::new(
        tcp,
        "PROXY header",
        balancer(Some(trusted.clone())),
        metrics,
        move |mut tcp, peer| {
            let trusted = trusted.clone();
            async move {
                let client = client_of(&mut tcp, peer, &trusted)
                    .await
                    .map_err(|line| Failed::new(peer, line))?;
                Ok((tcp, client))
            }
        },
    )
}

/// The client's address on a connection from `peer`, read from the header it begins with;
/// `peer`'s own for a balancer's health check (a version 2 `LOCAL` header, version 1's
/// `UNKNOWN`). Refused (with the line to log) from a peer that is not a balancer named, and
/// for a connection that does not begin with a header.
pub async fn client_of<S>(
    stream: &mut S,
    peer: SocketAddr,
    trusted: &Trusted,
) -> Result<SocketAddr, String>
where
    S: AsyncRead + Unpin,
{
    if !trusted.admits(peer.ip()) {
        return Err(format!(
            "connection from {peer} closed: not a load balancer --proxy-protocol names"
        ));
    }
    match read_header(stream).await {
        Ok(client) => Ok(client.unwrap_or(peer)),
        Err(why) => Err(format!("connection from {peer} closed: {why}")),
    }
}

/// Reads one PROXY header, to its last byte: the client's address it gives, if any.
async fn read_header<S>(stream: &mut S) -> Result<Option<SocketAddr>, String>
where
    S: AsyncRead + Unpin,
{
    let mut header = vec![0u8; SHORTEST];
    read_exact(stream, &mut header).await?;
    if header.starts_with(V2_SIGNATURE) {
        // The signature, version and command, family, then the length of what follows.
        header.resize(16, 0);
        read_exact(stream, &mut header[SHORTEST..]).await?;
        let rest = usize::from(u16::from_be_bytes([header[14], header[15]]));
        header.resize(16 + rest, 0);
        read_exact(stream, &mut header[16..]).await?;
        let parsed = v2::Header::try_from(&header[..])
            .map_err(|e| format!("its PROXY header (version 2) does not parse: {e}"))?;
        Ok(match (parsed.command, parsed.addresses) {
            (v2::Command::Proxy, v2::Addresses::IPv4(a)) => {
                Some(client_at(a.source_address, a.source_port))
            }
            (v2::Command::Proxy, v2::Addresses::IPv6(a)) => {
                Some(client_at(a.source_address, a.source_port))
            }
            // The balancer's own connection (a health check), or no IP address to give.
            _ => None,
        })
    } else if header.starts_with(V1_PREFIX) {
        while !header.ends_with(b"\r\n") {
            if header.len() >= V1_LONGEST {
                return Err(format!(
                    "its PROXY header (version 1) has no line end in {V1_LONGEST} bytes"
                ));
            }
            // A byte at a time: what follows the line end is the server's to read.
            let mut byte = [0u8];
            read_exact(stream, &mut byte).await?;
            header.push(byte[0]);
        }
        let parsed = v1::Header::try_from(&header[..])
            .map_err(|e| format!("its PROXY header (version 1) does not parse: {e}"))?;
        Ok(match parsed.addresses {
            v1::Addresses::Tcp4(a) => Some(client_at(a.source_address, a.source_port)),
            v1::Addresses::Tcp6(a) => Some(client_at(a.source_address, a.source_port)),
            v1::Addresses::Unknown => None,
        })
    } else {
        Err(
            "it does not begin with a PROXY protocol header (is the load balancer \
             sending one: HAProxy's send-proxy, nginx's proxy_protocol?)"
                .into(),
        )
    }
}

/// A client's address as a header gives it; an IPv4 client of a balancer listening on IPv6
/// comes as an IPv4-mapped address (`::ffff:203.0.113.7`), named here as IPv4.
fn client_at(ip: impl Into<IpAddr>, port: u16) -> SocketAddr {
    SocketAddr::new(ip.into().to_canonical(), port)
}

async fn read_exact<S>(stream: &mut S, into: &mut [u8]) -> Result<(), String>
where
    S: AsyncRead + Unpin,
{
    match stream.read_exact(into).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            Err("it ended before its PROXY header did".into())
        }
        Err(e) => Err(format!("reading its PROXY header: {e}")),
    }
}

#[cfg(test)]
mod tests;
