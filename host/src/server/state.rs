//! Builds the immutable data-path state for one config generation: every plugin loaded (off the
//! async threads, since compiling is CPU-bound), chains assembled, pools created.

use std::collections::HashMap;
use std::sync::Arc;

use crate::access::AccessLog;
use crate::config::{Config, ListenerMode};
use crate::filters::{ChainEntry, FilterChain, RouterChain};
use std::time::SystemTime;

use crate::proxy::{ForwardProxy, LoadedPlugin, ProxyState, Route};
use crate::runtime::{PathContext, Plugin, Runtime, World};
use crate::upstream::{BackendPool, OriginClient};

use super::StartError;

/// Loads the plugins and assembles routes and pools for `config`. A pool whose settings are the
/// same as in `previous` is carried over, with its warm upstream connections and health marks.
pub async fn build_state(
    config: &Config,
    runtime: &Arc<Runtime>,
    generation: u64,
    previous: Option<&ProxyState>,
) -> Result<ProxyState, StartError> {
    let loaded = load_plugins(config, runtime).await?;
    check_worlds(config, &loaded)?;
    let pools: HashMap<Arc<str>, Arc<BackendPool>> = config
        .pools
        .iter()
        .map(|settings| {
            let kept = previous
                .and_then(|state| state.pools.get(&settings.name))
                .filter(|pool| pool.settings() == settings)
                .cloned();
            // Only a new pool starts health checks: a kept one has its checker already.
            let pool = kept.unwrap_or_else(|| {
                let pool = Arc::new(BackendPool::new(settings.clone()));
                pool.start_checks();
                pool
            });
            (settings.name.clone(), pool)
        })
        .collect();
    let chain_of = |names: &[Arc<str>]| {
        FilterChain::new(
            names
                .iter()
                .filter_map(|name| loaded.get(name))
                .cloned()
                .collect(),
        )
    };
    let forward = config
        .listeners
        .iter()
        .filter_map(|listener| {
            let ListenerMode::Forward(settings) = &listener.mode else {
                return None;
            };
            let name: Arc<str> = Arc::from(listener.name.as_str());
            // Warm origin connections survive a reload that leaves their settings alone.
            let origins = previous
                .and_then(|state| state.forward.get(&name))
                .map(|f| f.origins.clone())
                .filter(|origins| *origins.settings() == settings.origin)
                .unwrap_or_else(|| Arc::new(OriginClient::new(settings.origin.clone())));
            let proxy = ForwardProxy {
                chain: chain_of(&settings.filters),
                policy: settings.policy.clone(),
                origins,
            };
            Some((name, proxy))
        })
        .collect();
    let streams = config
        .listeners
        .iter()
        .filter_map(|listener| {
            let ListenerMode::Tcp(settings) = &listener.mode else {
                return None;
            };
            let routers = settings
                .routers
                .iter()
                .filter_map(|name| loaded.get(name))
                .cloned()
                .collect();
            Some((Arc::from(listener.name.as_str()), RouterChain::new(routers)))
        })
        .collect();
    let mut routes = Vec::with_capacity(config.routes.len());
    for route in &config.routes {
        // Validation guarantees the pool exists; a missing one would be a validator bug.
        let Some(pool) = pools.get(&route.pool).cloned() else {
            continue;
        };
        routes.push(Route {
            name: Arc::from(route.name.as_str()),
            host: route.host.clone(),
            path_prefix: route.path_prefix.clone(),
            paths: PathContext::new(
                config.path_encoded_separators,
                Some(Arc::from(route.path_prefix.as_str())),
            ),
            chain: chain_of(&route.filters),
            pool,
            max_body_bytes: route.max_body_bytes,
        });
    }
    let plugins = config
        .filters
        .iter()
        .filter_map(|f| {
            let entry = loaded.get(&f.settings.name)?;
            Some(LoadedPlugin {
                name: f.settings.name.clone(),
                path: f.plugin.clone(),
                plugin: entry.plugin.clone(),
                loaded_at: SystemTime::now(),
            })
        })
        .collect();
    Ok(ProxyState {
        routes,
        pools,
        generation,
        plugins,
        forward,
        streams,
        paths: PathContext::new(config.path_encoded_separators, None),
        // One access log for the life of the process: the admin endpoint's recent records
        // survive a reload.
        access: previous.map_or_else(AccessLog::start, |state| state.access.clone()),
    })
}

async fn load_plugins(
    config: &Config,
    runtime: &Arc<Runtime>,
) -> Result<HashMap<Arc<str>, ChainEntry>, StartError> {
    let mut plugins = HashMap::new();
    for filter in &config.filters {
        let runtime = runtime.clone();
        let path = filter.plugin.clone();
        let settings = filter.settings.clone();
        let plugin = tokio::task::spawn_blocking(move || Plugin::load(&runtime, &path, settings))
            .await
            .map_err(|_| StartError::Interrupted)??;
        tracing::info!(
            plugin.name = %filter.settings.name,
            plugin.hash = %plugin.content_hash(),
            cache = ?plugin.cache_outcome(),
            "plugin loaded"
        );
        plugins.insert(
            filter.settings.name.clone(),
            ChainEntry {
                plugin: Arc::new(plugin),
                failure: filter.failure,
            },
        );
    }
    Ok(plugins)
}

/// Every chain holds plugins of its world: filters in routes and forward proxies, stream
/// routers on TCP listeners.
fn check_worlds(config: &Config, loaded: &HashMap<Arc<str>, ChainEntry>) -> Result<(), StartError> {
    let check = |names: &[Arc<str>], wanted: World, key: String| {
        for name in names {
            let Some(entry) = loaded.get(name) else {
                continue;
            };
            let world = entry.plugin.world();
            if world != wanted {
                return Err(StartError::World {
                    key,
                    filter: name.clone(),
                    world,
                    wanted,
                });
            }
        }
        Ok(())
    };
    for (i, route) in config.routes.iter().enumerate() {
        check(
            &route.filters,
            World::HttpFilter,
            format!("route[{i}].filters"),
        )?;
    }
    for (i, listener) in config.listeners.iter().enumerate() {
        match &listener.mode {
            ListenerMode::Reverse => {}
            ListenerMode::Forward(forward) => check(
                &forward.filters,
                World::HttpFilter,
                format!("listener[{i}].forward.filters"),
            )?,
            ListenerMode::Tcp(tcp) => check(
                &tcp.routers,
                World::StreamRouter,
                format!("listener[{i}].tcp.routers"),
            )?,
        }
    }
    Ok(())
}
