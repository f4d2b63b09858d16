//! One module per example plugin, each with real requests through real weir to a real backend.
//! `for_each_plugin!` makes a plugin without a module here a compile error.

use http::StatusCode;
use weir_tests::{Backend, guests};

use crate::support::{TestWeir, config, filter, runtime_table};
// The stream routers' tests live with the other TCP-listener tests.
use crate::stream::{git_router, sni_router, socks4_router};

macro_rules! assert_has_test {
    ($name:ident) => {
        #[allow(unused_imports, reason = "the import only proves the module exists")]
        use self::$name as _;
    };
}
weir_tests::for_each_plugin!(assert_has_test);

/// Starts weir with one filter in front of `backend`.
async fn with_filter(backend: &Backend, plugin: &str, config_json: &str) -> TestWeir {
    TestWeir::start(&config(
        backend.addr(),
        &[filter("f", plugin, config_json)],
        &["f"],
    ))
    .await
}

mod url_rewrite {
    use super::*;

    /// weir with url-rewrite mapping `/old/...` to `/new/...` in front of `backend`.
    async fn old_to_new(backend: &Backend) -> TestWeir {
        with_filter(
            backend,
            guests::URL_REWRITE,
            r#"{"rules":[{"match":"^/old/(.*)$","replace":"/new/$1"}]}"#,
        )
        .await
    }

    #[tokio::test]
    async fn regex_rule_rewrites_the_path_seen_by_the_backend() {
        let backend = Backend::start("a").await;
        let weir = old_to_new(&backend).await;
        let res = weir.get("app.test", "/old/x/y?keep=1").await;
        assert_eq!(res.status, StatusCode::OK);
        let seen = backend.last();
        assert_eq!(seen.path, "/new/x/y");
        assert_eq!(seen.query.as_deref(), Some("keep=1"));
        assert_eq!(weir.get("app.test", "/other").await.status, StatusCode::OK);
        assert_eq!(backend.last().path, "/other");
    }

    #[tokio::test]
    async fn request_headers_reach_the_backend_after_on_response_is_skipped() {
        // url-rewrite has no on_response: after the first response weir stops calling it and
        // hands the request head upstream without keeping a copy.
        let backend = Backend::start("a").await;
        let weir = old_to_new(&backend).await;
        for round in 0..3 {
            let request = weir
                .request("GET", "app.test", "/old/page")
                .header("x-client", format!("round-{round}"))
                .body(Default::default())
                .unwrap();
            let res = weir.send(request).await;
            assert_eq!(res.status, StatusCode::OK);
            let seen = backend.last();
            assert_eq!(seen.path, "/new/page");
            assert_eq!(seen.header("x-client"), format!("round-{round}"));
            assert_eq!(seen.header("host"), "app.test");
            assert_eq!(seen.header("x-forwarded-host"), "app.test");
            assert_eq!(res.header("via"), "1.1 weir");
        }
    }

    #[tokio::test]
    async fn host_rewrite_changes_the_host_seen_by_the_backend() {
        let backend = Backend::start("a").await;
        let weir = with_filter(
            &backend,
            guests::URL_REWRITE,
            r#"{"rules":[{"match":"^/api/(.*)$","replace":"/$1","host":"old.test","set_host":"new.test"}]}"#,
        )
        .await;
        weir.get("old.test", "/api/v1").await;
        let seen = backend.last();
        assert_eq!(
            (seen.path.as_str(), seen.header("host")),
            ("/v1", "new.test")
        );
        assert_eq!(seen.header("x-forwarded-host"), "old.test");
        weir.get("other.test", "/api/v1").await;
        assert_eq!(backend.last().path, "/api/v1", "host condition not met");
    }

    #[tokio::test]
    async fn redirect_rule_answers_without_reaching_the_backend() {
        let backend = Backend::start("a").await;
        let weir = with_filter(
            &backend,
            guests::URL_REWRITE,
            r#"{"rules":[{"match":"^/moved/(.*)$","replace":"/new/$1","redirect":308}]}"#,
        )
        .await;
        let res = weir.get("app.test", "/moved/page").await;
        assert_eq!(res.status, StatusCode::PERMANENT_REDIRECT);
        assert_eq!(res.header("location"), "/new/page");
        assert_eq!(backend.count(), 0);
    }
}

mod deny {
    use super::*;

    const POLICY: &str = r#"{"block_hosts":["*.blocked.test"],"block_path_prefixes":["/admin"],"block_patterns":["(?i)casino"],"allow_hosts":["ok.blocked.test"],"status":451,"body":"not here\n"}"#;

    #[tokio::test]
    async fn blocked_hosts_paths_and_patterns_get_the_configured_answer() {
        let backend = Backend::start("a").await;
        let weir = with_filter(&backend, guests::DENY, POLICY).await;
        for (host, path, rule) in [
            ("www.blocked.test", "/", "block_hosts[0]"),
            ("app.test", "/admin/users", "block_path_prefixes[0]"),
            ("app.test", "/%61dmin", "block_path_prefixes[0]"),
            ("app.test", "/search?q=CASINO", "block_patterns[0]"),
        ] {
            let res = weir.get(host, path).await;
            assert_eq!(res.status.as_u16(), 451, "{host}{path}");
            assert_eq!(res.body, "not here\n");
            assert_eq!(res.header("x-weir-deny-rule"), rule, "{host}{path}");
        }
        assert_eq!(backend.count(), 0);
        assert_eq!(
            weir.get("ok.blocked.test", "/").await.status,
            StatusCode::OK,
            "allow list wins"
        );
        assert_eq!(weir.get("app.test", "/public").await.status, StatusCode::OK);
        assert_eq!(backend.count(), 2);
    }

    #[tokio::test]
    async fn redirect_action_sends_blocked_users_to_a_block_page() {
        let backend = Backend::start("a").await;
        let weir = with_filter(
            &backend,
            guests::DENY,
            r#"{"block_hosts":["bad.test"],"redirect":"http://block.example/?url={url}"}"#,
        )
        .await;
        let res = weir.get("bad.test", "/x").await;
        assert_eq!(res.status, StatusCode::FOUND);
        assert!(
            res.header("location")
                .starts_with("http://block.example/?url=http%3A%2F%2Fbad.test%2Fx"),
            "{}",
            res.header("location")
        );
    }
}

mod router {
    use super::*;

    fn two_pools(main: &Backend, beta: &Backend, config_json: &str) -> String {
        format!(
            "{}\n[[listener]]\nbind = \"127.0.0.1:0\"\n[[pool]]\nname = \"main\"\nbackends = [\"{}\"]\n[[pool]]\nname = \"beta\"\nbackends = [\"{}\"]\n{}\n[[route]]\npool = \"main\"\nfilters = [\"router\"]\n",
            runtime_table(),
            main.addr(),
            beta.addr(),
            filter("router", guests::ROUTER, config_json)
        )
    }

    #[tokio::test]
    async fn header_cookie_and_path_conditions_select_the_pool() {
        let main = Backend::start("main").await;
        let beta = Backend::start("beta").await;
        let weir = TestWeir::start(&two_pools(
            &main,
            &beta,
            r#"{"routes":[{"header":{"name":"x-beta","value":"1"},"pool":"beta"},{"cookie":{"name":"lane","value":"beta"},"pool":"beta"},{"path_prefix":"/b/","pool":"beta"}]}"#,
        ))
        .await;
        let with = |name: &str, value: &str| {
            weir.request("GET", "app.test", "/")
                .header(name, value)
                .body(Default::default())
                .unwrap()
        };
        assert_eq!(
            weir.send(with("x-beta", "1")).await.header("x-backend"),
            "beta"
        );
        assert_eq!(
            weir.send(with("cookie", "a=1; lane=beta"))
                .await
                .header("x-backend"),
            "beta"
        );
        assert_eq!(
            weir.get("app.test", "/b/x").await.header("x-backend"),
            "beta"
        );
        assert_eq!(weir.get("app.test", "/").await.header("x-backend"), "main");
    }

    #[tokio::test]
    async fn weighted_split_is_sticky_per_affinity_key() {
        let main = Backend::start("main").await;
        let beta = Backend::start("beta").await;
        let weir = TestWeir::start(&two_pools(
            &main,
            &beta,
            r#"{"routes":[{"split":[{"pool":"main","weight":1},{"pool":"beta","weight":1}]}],"affinity":{"header":"x-user"}}"#,
        ))
        .await;
        let mut seen = std::collections::HashSet::new();
        for user in 0..20 {
            let mut answers = std::collections::HashSet::new();
            for _ in 0..3 {
                let req = weir
                    .request("GET", "app.test", "/")
                    .header("x-user", format!("u{user}"))
                    .body(Default::default())
                    .unwrap();
                answers.insert(weir.send(req).await.header("x-backend").to_owned());
            }
            assert_eq!(answers.len(), 1, "user u{user} always lands on one pool");
            seen.extend(answers);
        }
        assert_eq!(seen.len(), 2, "both pools serve some users");
    }

    #[tokio::test]
    async fn unknown_pool_gives_a_distinct_500() {
        let main = Backend::start("main").await;
        let beta = Backend::start("beta").await;
        let weir = TestWeir::start(&two_pools(&main, &beta, r#"{"default_pool":"gamma"}"#)).await;
        let res = weir.get("app.test", "/").await;
        assert_eq!(res.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(res.header("x-weir-error"), "unknown-pool");
        assert!(res.body.contains("unknown pool `gamma`"), "{}", res.body);
    }
}

mod headers {
    use super::*;

    #[tokio::test]
    async fn request_and_response_headers_follow_the_config_with_templates() {
        let backend = Backend::start("a").await;
        let weir = with_filter(
            &backend,
            guests::HEADERS,
            r#"{"request":{"set":{"x-client-ip":"{client_ip}","x-request-id":"{request_id}","x-orig-host":"{host}"},"append":{"x-tag":"weir"},"remove":["x-debug"]},"response":{"set":{"x-served-for":"{host}"},"remove":["x-backend"]},"forwarded":true}"#,
        )
        .await;
        let req = weir
            .request("GET", "app.test", "/")
            .header("x-debug", "1")
            .header("x-tag", "client")
            .body(Default::default())
            .unwrap();
        let res = weir.send(req).await;
        let seen = backend.last();
        assert_eq!(seen.header("x-client-ip"), "127.0.0.1");
        assert_eq!(seen.header("x-orig-host"), "app.test");
        assert!(!seen.header("x-request-id").is_empty());
        assert!(!seen.headers.contains_key("x-debug"));
        let tags: Vec<_> = seen
            .headers
            .get_all("x-tag")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(tags, ["client", "weir"]);
        assert!(
            seen.header("forwarded").starts_with("for=127.0.0.1"),
            "{}",
            seen.header("forwarded")
        );
        assert_eq!(res.header("x-served-for"), "app.test");
        assert_eq!(res.header("x-backend"), "");
    }

    #[tokio::test]
    async fn request_ids_differ_between_requests() {
        let backend = Backend::start("a").await;
        let weir = with_filter(
            &backend,
            guests::HEADERS,
            r#"{"request":{"set":{"x-request-id":"{request_id}"}}}"#,
        )
        .await;
        weir.get("app.test", "/").await;
        weir.get("app.test", "/").await;
        let ids: Vec<String> = backend
            .requests()
            .iter()
            .map(|r| r.header("x-request-id").to_owned())
            .collect();
        assert_ne!(ids[0], ids[1]);
    }
}

mod cookies {
    use super::*;

    #[tokio::test]
    async fn request_cookies_are_stripped_renamed_and_added() {
        let backend = Backend::start("a").await;
        let weir = with_filter(
            &backend,
            guests::COOKIES,
            r#"{"request":{"strip":["tracking"],"strip_prefix":["utm_"],"rename":{"PHPSESSID":"session"},"add":{"consent":"0"}}}"#,
        )
        .await;
        let req = weir
            .request("GET", "app.test", "/")
            .header("cookie", "PHPSESSID=s1; tracking=t; utm_source=x; keep=1")
            .body(Default::default())
            .unwrap();
        weir.send(req).await;
        let cookie = backend.last().header("cookie").to_owned();
        let mut pairs: Vec<&str> = cookie.split("; ").collect();
        pairs.sort_unstable();
        assert_eq!(pairs, ["consent=0", "keep=1", "session=s1"]);
    }

    #[tokio::test]
    async fn set_cookie_attributes_are_rewritten_by_name() {
        let backend = Backend::start("a").await;
        let weir = with_filter(
            &backend,
            guests::COOKIES,
            r#"{"response":{"set_cookie":[{"name":"session","secure":true,"http_only":true,"same_site":"Strict"}],"add_set_cookie":[{"name":"edge","value":"weir","path":"/"}]}}"#,
        )
        .await;
        let res = weir.get("app.test", "/").await;
        let cookies = res.header_all("set-cookie");
        assert_eq!(
            cookies[0],
            "session=abc; Path=/; Secure; HttpOnly; SameSite=Strict"
        );
        assert_eq!(
            cookies[1], "theme=dark; Path=/; Max-Age=60",
            "other cookies untouched"
        );
        assert!(
            cookies[2].starts_with("edge=weir; Path=/"),
            "{}",
            cookies[2]
        );
    }
}

/// A filter that keeps the SDK's default `on_response` says so after its first response, and
/// the host stops calling that hook; a filter with its own `on_response` keeps being called.
mod response_hook {
    use std::path::Path;
    use std::sync::Arc;
    use std::time::Duration;

    use http::{HeaderMap, Method, Version};
    use weir::runtime::{
        Decision, EngineSettings, FilterSettings, Isolation, Journal, Plugin, RequestView,
        ResponseView, Runtime,
    };

    use super::guests;

    fn load(runtime: &Arc<Runtime>, path: &str, config_json: &str) -> Plugin {
        let settings = FilterSettings {
            name: Arc::from("hooked"),
            config_json: config_json.to_owned(),
            deadline: Duration::from_millis(500),
            init_deadline: Duration::from_secs(10),
            memory_limit_bytes: 16 << 20,
            isolation: Isolation::Pooled,
            recycle_after_calls: u64::MAX,
            max_idle_instances: 2,
            limits: weir::config::default_plugin_limits(),
        };
        Plugin::load(runtime, Path::new(path), settings).expect("plugin loads")
    }

    fn views() -> (RequestView, ResponseView) {
        let request = RequestView {
            method: Method::GET,
            scheme: "http",
            authority: Some(http::uri::Authority::from_static("app.test")),
            path_and_query: http::uri::PathAndQuery::from_static("/"),
            path_context: None,
            version: Version::HTTP_11,
            headers: HeaderMap::new(),
            client: "127.0.0.1:40000".parse().expect("address"),
            id: weir::runtime::RequestId::fixed("t", 1),
            tls: None,
            backend: None,
            journal: Journal::default(),
            context: Default::default(),
        };
        let response = ResponseView {
            status: http::StatusCode::OK,
            headers: HeaderMap::new(),
            journal: Journal::default(),
        };
        (request, response)
    }

    #[test]
    fn only_filters_with_their_own_on_response_keep_being_called() {
        let runtime = Runtime::new(EngineSettings {
            max_instances: 8,
            max_memory_bytes: 64 << 20,
            epoch_tick: Duration::from_millis(5),
            cache_dir: Some(crate::support::cache_dir()),
        })
        .expect("engine");
        let router = load(
            &runtime,
            guests::ROUTER,
            r#"{"routes":[{"header":{"name":"x-user","value":"alice"},"pool":"beta"}]}"#,
        );
        let edits = load(
            &runtime,
            guests::EDITS,
            r#"{"response":[["set-header","x-seen","1"]]}"#,
        );
        for plugin in [&router, &edits] {
            assert!(plugin.runs_on_response(), "called until it says otherwise");
            let (request, response) = views();
            let (_, _, result) = plugin.on_response_blocking(request, response);
            assert!(matches!(result, Ok(Decision::Continue)));
        }
        assert!(
            !router.runs_on_response(),
            "the router keeps the default on_response"
        );
        assert!(edits.runs_on_response(), "the edits guest has its own");
    }
}
