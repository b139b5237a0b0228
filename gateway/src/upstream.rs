//! The services behind the gateway: one channel per service, balanced over its
//! replicas, connected lazily so a service that is down answers `UNAVAILABLE`
//! at once instead of holding the gateway up.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use tonic::transport::{Channel, Endpoint};
use zhengqi_shared::Error;

#[derive(Debug, Clone, Default)]
pub struct Upstreams {
    by_service: HashMap<String, Channel>,
}

impl Upstreams {
    /// `addresses` maps a service's full name to its replicas' addresses.
    pub fn new(addresses: &BTreeMap<String, Vec<String>>) -> Result<Upstreams, Error> {
        let mut by_service = HashMap::new();
        for (service, replicas) in addresses {
            let endpoints = replicas
                .iter()
                .map(|address| {
                    let address = if address.contains("://") {
                        address.clone()
                    } else {
                        format!("http://{address}")
                    };
                    Endpoint::from_shared(address.clone())
                        .map(|e| {
                            e.connect_timeout(Duration::from_secs(1))
                                .tcp_nodelay(true)
                                .http2_keep_alive_interval(Duration::from_secs(30))
                        })
                        .map_err(|e| {
                            Error::internal(format!(
                                "upstream {service}: bad address {address:?}: {e}"
                            ))
                        })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let channel = match endpoints.as_slice() {
                [] => continue,
                [one] => one.connect_lazy(),
                _ => Channel::balance_list(endpoints.into_iter()),
            };
            by_service.insert(service.clone(), channel);
        }
        Ok(Upstreams { by_service })
    }

    /// The channel to `service` (`zhengqi.intake.v1.IntakeService`).
    pub fn channel(&self, service: &str) -> Option<Channel> {
        self.by_service.get(service).cloned()
    }
}
