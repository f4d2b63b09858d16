use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

fn nets(list: &[&str]) -> Vec<IpNet> {
    list.iter()
        .map(|s| s.parse().expect("test network"))
        .collect()
}

#[test]
fn networks_parse_strictly() {
    assert_eq!(
        "10.0.0.0/8".parse::<IpNet>(),
        Ok(IpNet::new(ip("10.0.0.0"), 8))
    );
    assert_eq!("127.0.0.1".parse::<IpNet>().map(|n| n.prefix()), Ok(32));
    assert_eq!("2001:db8::/32".parse::<IpNet>().map(|n| n.prefix()), Ok(32));
    assert_eq!("::1".parse::<IpNet>().map(|n| n.prefix()), Ok(128));
    assert_eq!("0.0.0.0/0".parse::<IpNet>().map(|n| n.prefix()), Ok(0));
    assert!(matches!(
        "10.0.0.1/8".parse::<IpNet>(),
        Err(NetError::HostBits { .. })
    ));
    assert!(matches!(
        "10.0.0.0/33".parse::<IpNet>(),
        Err(NetError::Prefix(_))
    ));
    assert!(matches!(
        "::/129".parse::<IpNet>(),
        Err(NetError::Prefix(_))
    ));
    assert!(matches!(
        "::ffff:10.0.0.0/104".parse::<IpNet>(),
        Err(NetError::Mapped(_))
    ));
    for bad in [
        "",
        "10/8",
        "0x7f.1",
        "2130706433",
        "10.0.0.0/",
        "10.0.0.0/-1",
        "10.0.0.0/8/8",
        "fe80::1%eth0/64",
        "10.0.0.0/ 8",
        "example.com",
    ] {
        assert!(
            matches!(bad.parse::<IpNet>(), Err(NetError::Syntax(_))),
            "{bad}: {:?}",
            bad.parse::<IpNet>()
        );
    }
}

#[test]
fn contains_respects_the_prefix_and_the_family() {
    let net: IpNet = "192.168.0.0/16".parse().expect("net");
    assert!(net.contains(ip("192.168.255.1")));
    assert!(!net.contains(ip("192.169.0.1")));
    assert!(
        !net.contains(ip("::ffff:192.168.0.1")),
        "judge() canonicalises, not contains"
    );
    let all: IpNet = "0.0.0.0/0".parse().expect("net");
    assert!(all.contains(ip("8.8.8.8")));
    assert!(!all.contains(ip("::1")));
}

/// Every trick of the hostile-client kit, as the address it becomes, against the default
/// policy: `true` means refused.
#[test]
fn default_policy_refuses_every_reserved_form() {
    let policy = EgressPolicy::default();
    for (addr, refused) in [
        ("127.0.0.1", true),
        ("127.255.255.254", true),
        ("0.0.0.0", true),
        ("10.1.2.3", true),
        ("172.16.0.1", true),
        ("172.31.255.255", true),
        ("192.168.1.1", true),
        ("169.254.169.254", true),
        ("100.64.0.1", true),
        ("100.127.255.255", true),
        ("192.0.0.170", true),
        ("192.0.2.1", true),
        ("198.18.0.1", true),
        ("198.51.100.1", true),
        ("203.0.113.1", true),
        ("224.0.0.1", true),
        ("239.255.255.250", true),
        ("240.0.0.1", true),
        ("255.255.255.255", true),
        ("::", true),
        ("::1", true),
        // IPv4-mapped: judged as IPv4.
        ("::ffff:127.0.0.1", true),
        ("::ffff:7f00:1", true),
        ("::ffff:10.0.0.1", true),
        ("::ffff:169.254.169.254", true),
        // IPv4-compatible (deprecated).
        ("::127.0.0.1", true),
        ("::8.8.8.8", true),
        // NAT64 well-known prefix: judged by the IPv4 address it leads to.
        ("64:ff9b::7f00:1", true),
        ("64:ff9b::a9fe:a9fe", true),
        ("64:ff9b:1::1", true),
        // 6to4: judged by the embedded IPv4 address.
        ("2002:7f00:1::", true),
        ("2002:a00:1::1", true),
        ("2001::1", true),
        ("2001:db8::1", true),
        ("fc00::1", true),
        ("fd12:3456::1", true),
        ("fe80::1", true),
        ("fec0::1", true),
        ("ff02::1", true),
        ("100::1", true),
        // Public addresses, directly and through the embedded forms.
        ("93.184.216.34", false),
        ("8.8.8.8", false),
        ("172.32.0.1", false),
        ("100.128.0.1", false),
        ("::ffff:8.8.8.8", false),
        ("64:ff9b::808:808", false),
        ("2002:808:808::1", false),
        ("2606:2800:220:1::1", false),
    ] {
        assert_eq!(policy.judge(ip(addr)).is_err(), refused, "{addr}");
    }
}

#[test]
fn an_allowed_network_inside_a_reserved_range_opens_only_itself() {
    let policy = EgressPolicy {
        allow_networks: Some(nets(&["127.0.0.1/32", "10.20.0.0/16"])),
        ..EgressPolicy::default()
    };
    assert_eq!(policy.judge(ip("127.0.0.1")), Ok(()));
    assert_eq!(policy.judge(ip("::ffff:127.0.0.1")), Ok(()));
    assert_eq!(policy.judge(ip("10.20.3.4")), Ok(()));
    assert!(matches!(
        policy.judge(ip("127.0.0.2")),
        Err(Refusal::Reserved(_))
    ));
    assert!(matches!(
        policy.judge(ip("10.21.0.1")),
        Err(Refusal::Reserved(_))
    ));
    // The NAT64 and 6to4 forms of an allowed address are other addresses: not in the list.
    assert_eq!(
        policy.judge(ip("64:ff9b::7f00:1")),
        Err(Refusal::NotAllowed)
    );
    assert_eq!(policy.judge(ip("8.8.8.8")), Err(Refusal::NotAllowed));
}

#[test]
fn a_wide_allowed_network_opens_no_reserved_range() {
    let policy = EgressPolicy {
        allow_networks: Some(nets(&["0.0.0.0/0", "::/0"])),
        ..EgressPolicy::default()
    };
    assert_eq!(policy.judge(ip("8.8.8.8")), Ok(()));
    for addr in [
        "127.0.0.1",
        "10.0.0.1",
        "::1",
        "fd00::1",
        "::ffff:127.0.0.1",
    ] {
        assert!(
            matches!(policy.judge(ip(addr)), Err(Refusal::Reserved(_))),
            "{addr}"
        );
    }
}

#[test]
fn deny_networks_win_over_allow_networks_and_see_embedded_addresses() {
    let policy = EgressPolicy {
        allow_networks: Some(nets(&["127.0.0.0/8", "64:ff9b::/96", "8.8.0.0/16"])),
        deny_networks: nets(&["127.0.0.5", "8.8.8.0/24"]),
        refuse_reserved: true,
    };
    assert_eq!(policy.judge(ip("127.0.0.4")), Ok(()));
    assert!(matches!(
        policy.judge(ip("127.0.0.5")),
        Err(Refusal::Denied(_))
    ));
    assert!(matches!(
        policy.judge(ip("::ffff:127.0.0.5")),
        Err(Refusal::Denied(_))
    ));
    assert!(matches!(
        policy.judge(ip("8.8.8.8")),
        Err(Refusal::Denied(_))
    ));
    assert!(matches!(
        policy.judge(ip("64:ff9b::808:808")),
        Err(Refusal::Denied(_))
    ));
    assert_eq!(policy.judge(ip("64:ff9b::808:404")), Ok(()));
    assert_eq!(policy.judge(ip("8.8.4.4")), Ok(()));
}

#[test]
fn an_empty_allow_list_refuses_everything() {
    let policy = EgressPolicy {
        allow_networks: Some(Vec::new()),
        ..EgressPolicy::default()
    };
    assert_eq!(policy.judge(ip("8.8.8.8")), Err(Refusal::NotAllowed));
}

#[test]
fn without_the_reserved_ranges_only_the_lists_apply() {
    let open = EgressPolicy::open();
    for addr in ["127.0.0.1", "::1", "10.0.0.1", "8.8.8.8", "64:ff9b::7f00:1"] {
        assert_eq!(open.judge(ip(addr)), Ok(()), "{addr}");
    }
    let private_but_not_metadata = EgressPolicy {
        deny_networks: nets(&["169.254.0.0/16"]),
        ..EgressPolicy::open()
    };
    assert!(
        private_but_not_metadata
            .judge(ip("169.254.169.254"))
            .is_err()
    );
    assert_eq!(private_but_not_metadata.judge(ip("10.0.0.1")), Ok(()));
}

#[test]
fn the_reserved_list_is_well_formed() {
    for range in RESERVED {
        let reparsed: IpNet = range.to_string().parse().expect("reserved range reparses");
        assert_eq!(reparsed, *range, "host bits set in {range}");
    }
}
