//! `weir-plugin-router`: chooses the backend pool for each request from ordered routes that
//! match on host, path prefix, a header or a cookie, with weighted splits (canaries, A/B) and
//! sticky affinity.
//!
//! The first route whose conditions all hold wins and sends the request to its `pool` or to one
//! pool of its `split`; otherwise `default_pool` applies, and without one the request keeps
//! the pool weir's own route gives it. With `affinity`, the key (a cookie, a header or the
//! client IP) goes to weir with the pool so that a user stays on one backend, and it also picks
//! the side of a split by a stable hash, so a user stays on one side. Depends on `weir-sdk`,
//! `serde`, `serde_json` and `regex` only.
//!
//! ```
//! use weir_sdk::{Filter, testing::{TestRequest, selected_backend}};
//! use weir_plugin_router::Router;
//!
//! let mut router = Router::init(r#"{"routes":[{"path_prefix":"/api/","pool":"api"}],"default_pool":"web"}"#)?;
//! let mut req = TestRequest::get("/api/users").authority("app.test").build();
//! router.on_request(&mut req);
//! assert_eq!(selected_backend(&req), Some(("api".to_owned(), None)));
//! # Ok::<(), String>(())
//! ```

mod config;
mod route;
mod split;

use weir_sdk::host::{self, Level};
use weir_sdk::{Filter, Request, Verdict};

use route::{Route, Target};

/// The router filter: routes in config order, the default pool and the affinity source.
#[derive(Debug)]
pub struct Router {
    routes: Vec<Route>,
    default_pool: Option<String>,
    affinity: Option<Affinity>,
}

/// Where the affinity key comes from (`affinity` in the config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Affinity {
    /// `{ "cookie": "name" }`: the value of this request cookie.
    Cookie(String),
    /// `{ "header": "name" }`: the first value of this request header (UTF-8 only).
    Header(String),
    /// `"client_ip"`: the client's IP address as weir sees it.
    ClientIp,
}

impl Affinity {
    /// The key for `req`; `None` when the cookie or header is absent or empty.
    pub fn key(&self, req: &Request) -> Option<String> {
        let key = match self {
            Self::Cookie(name) => req.cookie(name),
            Self::Header(name) => req.header_str(name),
            Self::ClientIp => Some(req.client_addr()),
        };
        key.filter(|key| !key.is_empty())
    }
}

/// The router's decision for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// The pool to send the request to.
    pub pool: String,
    /// The affinity key to pass along with it.
    pub affinity_key: Option<String>,
    /// Index of the matching route; `None` for `default_pool`.
    pub route: Option<usize>,
}

impl Router {
    /// The pool for `req`, or `None` when no route matches and there is no default pool.
    /// Takes `&mut self` because a split without an affinity key advances its round robin.
    pub fn choose(&mut self, req: &Request) -> Option<Selection> {
        let matched = self
            .routes
            .iter_mut()
            .enumerate()
            .find(|(_, route)| route.matches(req));
        let affinity_key = match (&matched, &self.default_pool) {
            (None, None) => return None,
            _ => self.affinity.as_ref().and_then(|a| a.key(req)),
        };
        let (route, pool) = match matched {
            Some((index, route)) => {
                let pool = match &mut route.target {
                    Target::Pool(pool) => pool.clone(),
                    Target::Split(split) => split.pick(affinity_key.as_deref()).to_owned(),
                };
                (Some(index), pool)
            }
            None => (None, self.default_pool.clone()?),
        };
        Some(Selection {
            pool,
            affinity_key,
            route,
        })
    }

    /// The whole `on_request` step: selects the chosen pool. Always `Continue`; if weir refuses
    /// the pool (for example, no such pool), the refusal is logged at warn level and the
    /// request keeps weir's own choice.
    pub fn route_request(&mut self, req: &mut Request) -> Verdict {
        let Some(selection) = self.choose(req) else {
            return Verdict::Continue;
        };
        if let Err(err) = req.select_backend(&selection.pool, selection.affinity_key.as_deref()) {
            let error = err.to_string();
            host::log(
                Level::Warn,
                "weir refused the selected pool; keeping the route's pool",
                &[("pool", selection.pool.as_str()), ("error", error.as_str())],
            );
        }
        Verdict::Continue
    }
}

impl Filter for Router {
    /// Parses the JSON config and compiles every regex; a bad route fails the load with a
    /// message naming it (`routes[1].header.value_regex: invalid regex: ...`).
    fn init(config: &str) -> Result<Self, String> {
        let config = config::parse(config)?;
        Ok(Self {
            routes: config.routes,
            default_pool: config.default_pool,
            affinity: config.affinity,
        })
    }

    fn on_request(&mut self, req: &mut Request) -> Verdict {
        self.route_request(req)
    }
}

weir_sdk::export_filter!(Router);

#[cfg(test)]
mod tests;
