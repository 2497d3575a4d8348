//! How many connections each client address holds, so that one address cannot take every slot.
//! No server crate caps connections per address (tower's limits count requests, not
//! connections, and know no peer).

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex, MutexGuard},
};

use crate::server::client_address::network_of;

/// Open connections per client address (IPv6 by /64: one host holds a whole /64).
#[derive(Default)]
pub(super) struct PerAddress(Mutex<HashMap<IpAddr, usize>>);

impl PerAddress {
    fn open(&self) -> MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A slot for one more connection from `ip`, or `None` when it holds `max` already.
    pub(super) fn admit(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<AddressSlot> {
        let key = network_of(ip);
        let mut open = self.open();
        let held = open.entry(key).or_insert(0);
        if *held >= max {
            return None;
        }
        *held += 1;
        Some(AddressSlot(self.clone(), key))
    }
}

/// One open connection counted against its address until dropped.
pub(super) struct AddressSlot(Arc<PerAddress>, IpAddr);

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self.0.open();
        if let Some(held) = open.get_mut(&self.1) {
            *held -= 1;
            if *held == 0 {
                open.remove(&self.1);
            }
        }
    }
}
