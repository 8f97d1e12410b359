"""Where endpoints may point: the URL rule, and (in production) public addresses only, checked against
what the name resolves to and connected to by the checked address."""

import socket

import pytest

from loyalty_lists.outbound.ssrf import UnsafeDestination, address_public, destination_check, url_valid


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",
        "224.0.0.1",
        "240.0.0.1",
    ],
)
def test_private_loopback_link_local_and_reserved_addresses_are_refused(address):
    assert not address_public(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address):
    assert address_public(address)


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/x",
        "http://a.b",
        "https://h.example.com:8443/p/q?x=1&y=%20",
        "http://1.2.3.4/",
    ],
)
def test_valid_urls(url):
    assert url_valid(url)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://a.b/",
        "https://user:pw@a.b/",
        "https://a.b/#frag",
        "https://a.b:0/",
        "https://a.b:70000/",
        "https:///x",
        "https://-a.b/",
        "javascript:alert(1)",
        "https://a b/",
    ],
)
def test_invalid_urls(url):
    assert not url_valid(url)


def resolver(*addresses):
    def resolve(host, port, type=None):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    return resolve


def test_a_public_host_is_connected_to_by_the_address_checked(settings):
    settings.OUTBOUND_ALLOW_PRIVATE_URLS = False
    destination = destination_check(
        "https://hooks.example.com:8443/in?x=1", resolve=resolver("93.184.216.34")
    )
    url, headers = destination.pinned
    assert url == "https://93.184.216.34:8443/in?x=1" and headers == {"Host": "hooks.example.com:8443"}


def test_a_name_that_resolves_to_any_private_address_is_refused(settings):
    settings.OUTBOUND_ALLOW_PRIVATE_URLS = False
    with pytest.raises(UnsafeDestination, match="10.0.0.5"):
        destination_check("https://hooks.example.com/", resolve=resolver("93.184.216.34", "10.0.0.5"))


def test_a_name_that_does_not_resolve_is_refused(settings):
    settings.OUTBOUND_ALLOW_PRIVATE_URLS = False

    def fail(*args, **kwargs):
        raise socket.gaierror("no such host")

    with pytest.raises(UnsafeDestination, match="does not resolve"):
        destination_check("https://nowhere.invalid/", resolve=fail)


def test_the_demo_setting_allows_private_addresses_without_resolving(settings):
    settings.OUTBOUND_ALLOW_PRIVATE_URLS = True
    destination = destination_check("http://127.0.0.1:9000/hooks", resolve=None)
    assert destination.pinned == ("http://127.0.0.1:9000/hooks", {})
