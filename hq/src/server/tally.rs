//! How many of something each client address holds at once, as the login throttle counts
//! addresses (an IPv4 address, an IPv6 address's /64): the connections it holds open
//! ([`super::per_address`]), the connections it has in their TLS handshake or PROXY header
//! ([`super::accept`]). Each one is held by a [`Tallied`], given back when it is dropped.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// What each address holds, up to a most.
#[derive(Debug)]
pub struct Tally {
    most: usize,
    held: Mutex<HashMap<String, usize>>,
}

/// One held for an address: given back when dropped.
#[derive(Debug)]
pub struct Tallied {
    tally: Arc<Tally>,
    address: String,
}

impl Tally {
    pub fn new(most: usize) -> Arc<Tally> {
        Arc::new(Tally {
            most,
            held: Mutex::default(),
        })
    }

    /// The most one address may hold.
    pub fn most(&self) -> usize {
        self.most
    }

    /// One more for `client`'s address, or None when it holds the most it may.
    pub fn take(self: &Arc<Self>, client: IpAddr) -> Option<Tallied> {
        let address = crate::throttle::address_key(client);
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let count = held.entry(address.clone()).or_insert(0);
        if *count >= self.most {
            return None;
        }
        *count += 1;
        Some(Tallied {
            tally: Arc::clone(self),
            address,
        })
    }

    /// How many `client`'s address holds.
    #[cfg(test)]
    pub fn held(&self, client: IpAddr) -> usize {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let address = crate::throttle::address_key(client);
        held.get(&address).copied().unwrap_or(0)
    }

    /// Whether no address holds anything (none is left behind).
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty()
    }
}

impl Drop for Tallied {
    fn drop(&mut self) {
        let mut held = self.tally.held.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = held.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(address: &str) -> IpAddr {
        address.parse().unwrap()
    }

    #[test]
    fn an_address_holds_at_most_the_most_and_what_is_dropped_is_given_back() {
        let tally = Tally::new(2);
        let first = tally.take(ip("192.0.2.1")).unwrap();
        let second = tally.take(ip("192.0.2.1")).unwrap();
        assert!(tally.take(ip("192.0.2.1")).is_none(), "a third");
        let other = tally.take(ip("192.0.2.2")).unwrap();
        drop(first);
        assert_eq!(tally.held(ip("192.0.2.1")), 1);
        let third = tally.take(ip("192.0.2.1")).unwrap();
        drop((second, third, other));
        assert!(tally.is_empty(), "nothing left behind");
    }

    #[test]
    fn an_ipv6_address_counts_by_its_64_and_a_mapped_ipv4_as_itself() {
        let tally = Tally::new(1);
        let _one = tally.take(ip("2001:db8::1")).unwrap();
        assert!(tally.take(ip("2001:db8::2")).is_none(), "same /64");
        assert!(tally.take(ip("2001:db8:0:1::1")).is_some());
        let _v4 = tally.take(ip("192.0.2.7")).unwrap();
        assert!(tally.take(ip("::ffff:192.0.2.7")).is_none(), "mapped");
    }
}
