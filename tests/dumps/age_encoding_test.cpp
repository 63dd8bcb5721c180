#include <catch2/catch.hpp>

#include "dumps/age_encoding.hpp"
#include "dumps/age_header.hpp"
#include "dumps/age_keys.hpp"

using namespace snapgov::dumps;

TEST_CASE("base64 raw round-trips and rejects padding and non-canonical forms", "[age]") {
    const std::vector<std::uint8_t> data = {0xde, 0xad, 0xbe, 0xef, 0x01};
    const std::string text = base64_encode_raw(data);
    CHECK(text == "3q2+7wE");
    CHECK(base64_decode_raw(text) == data);
    CHECK_FALSE(base64_decode_raw("3q2+7wE=").has_value());
    CHECK_FALSE(base64_decode_raw("3q2+7wF").has_value()); // non-zero trailing bits
    CHECK_FALSE(base64_decode_raw("A").has_value());
    CHECK_FALSE(base64_decode_raw("3q2-7wE").has_value());
}

TEST_CASE("the spec's example identity gives the spec's example recipient", "[age]") {
    auto id = X25519Identity::parse(
        "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX");
    REQUIRE(id);
    CHECK(id->recipient().to_string() ==
          "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj");
    CHECK(id->to_string() ==
          "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX");
}

TEST_CASE("recipients and identities with a bad checksum, case or prefix are refused", "[age]") {
    CHECK(X25519Recipient::parse("age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj"));
    CHECK_FALSE(
        X25519Recipient::parse("age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwk"));
    CHECK_FALSE(
        X25519Recipient::parse("AGE1ZVKYG2LQZRAA2LNJVQEJ32NKUU0UES2S82HZRYE869XEEXVN73EQUNUJWJ"));
    CHECK_FALSE(X25519Recipient::parse("age1qqqq"));
    auto bad = X25519Identity::parse(
        "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEY");
    REQUIRE_FALSE(bad);
    // The secret must not be echoed into an error message.
    CHECK(bad.error().message.find("GFPYYSJZ") == std::string::npos);
}

TEST_CASE("a generated identity round-trips through its text form", "[age]") {
    auto id = X25519Identity::generate();
    REQUIRE(id);
    auto again = X25519Identity::parse(id->to_string());
    REQUIRE(again);
    CHECK(again->recipient().key() == id->recipient().key());
    auto r = X25519Recipient::parse(id->recipient().to_string());
    REQUIRE(r);
    CHECK(r->key() == id->recipient().key());
}

TEST_CASE("header serialization wraps bodies at 64 columns and parses back", "[age]") {
    AgeStanza s;
    s.type = "example.com/x";
    s.args = {"a", "b"};
    s.body.assign(48, 0x41); // exactly one full 64-column line, then an empty final line
    const std::string prefix = serialize_age_header_prefix({s});
    CHECK(prefix.ends_with("\n\n---")); // the empty final body line
    const auto first_lf = prefix.find('\n', prefix.find("->"));
    CHECK(prefix.find('\n', first_lf + 1) - first_lf - 1 == 64);
    const std::string text = prefix + " " + std::string(43, 'A') + "\n";
    auto parsed = parse_age_header(text);
    REQUIRE(parsed);
    REQUIRE(parsed->stanzas.size() == 1);
    CHECK(parsed->stanzas[0].body == s.body);
    CHECK(parsed->stanzas[0].args == s.args);
    CHECK(parsed->mac_input == prefix);
}
