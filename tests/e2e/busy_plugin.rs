//! A hook that runs long holds no thread: hook calls yield to the async runtime at every epoch
//! tick until their deadline, so requests on other connections keep being served meanwhile.

use std::sync::Mutex;

use http::StatusCode;
use weir_tests::{Backend, guests};

use crate::support::{TestWeir, config};

/// `#[tokio::test]` runs everything (the test's client, weir and the backend) on one thread:
/// if a looping hook held that thread, no other request could be answered until the loop hit
/// its deadline.
#[tokio::test]
async fn looping_hooks_do_not_stall_requests_on_other_connections() {
    let backend = Backend::start("a").await;
    let filter = format!(
        "[[filter]]\nname = \"loop\"\nplugin = {:?}\nconfig_json = '{{\"fault\":\"loop\",\"when\":\"request\",\"path\":\"/boom\"}}'\ndeadline_ms = 3000\n",
        guests::MISBEHAVE
    );
    let weir = TestWeir::start(&config(backend.addr(), &[filter], &["loop"])).await;
    let finished = Mutex::new(Vec::new());
    let looping = |i: usize| {
        let (weir, finished) = (&weir, &finished);
        async move {
            let res = weir.get("app.test", "/boom").await;
            finished.lock().unwrap().push(format!("loop {i}"));
            res
        }
    };
    let plain = async {
        // Let the four looping calls start first.
        tokio::task::yield_now().await;
        let res = weir.get("app.test", "/fine").await;
        finished.lock().unwrap().push("plain".to_owned());
        res
    };
    let (a, b, c, d, plain) = tokio::join!(looping(0), looping(1), looping(2), looping(3), plain);
    for res in [&a, &b, &c, &d] {
        assert_eq!(
            res.status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "{}",
            res.body
        );
        assert!(res.body.contains("deadline exceeded"), "{}", res.body);
    }
    assert_eq!(plain.status, StatusCode::OK, "{}", plain.body);
    assert_eq!(
        finished.lock().unwrap().first().map(String::as_str),
        Some("plain"),
        "the plain request was answered while the four hooks were still looping"
    );
}
