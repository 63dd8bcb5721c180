#include "providers/hyperv/wsman_client.hpp"

#include <array>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <optional>
#include <sstream>

#include <openssl/rand.h>
#include <pugixml.hpp>

#include "core/log.hpp"

namespace snapgov::providers::hyperv {
namespace {

constexpr const char* kNsSoap = "http://www.w3.org/2003/05/soap-envelope";
constexpr const char* kNsAddressing = "http://schemas.xmlsoap.org/ws/2004/08/addressing";
constexpr const char* kNsWsman = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd";
constexpr const char* kNsEnumeration = "http://schemas.xmlsoap.org/ws/2004/09/enumeration";
constexpr const char* kNsTransfer = "http://schemas.xmlsoap.org/ws/2004/09/transfer";
constexpr const char* kNsXsi = "http://www.w3.org/2001/XMLSchema-instance";
constexpr const char* kNsCim = "http://schemas.dmtf.org/wbem/wscim/1/common";
constexpr const char* kNsWsmanFault = "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault";
constexpr const char* kAnonymous =
    "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous";
constexpr const char* kWmiBase = "http://schemas.microsoft.com/wbem/wsman/1/wmi/";
constexpr const char* kWqlDialect = "http://schemas.microsoft.com/wbem/wsman/1/WQL";

std::string resource_uri(std::string_view cim_namespace, std::string_view class_name) {
    return std::string(kWmiBase) + std::string(cim_namespace) + "/" + std::string(class_name);
}

std::string new_message_id() {
    std::array<unsigned char, 16> b{};
    if (RAND_bytes(b.data(), static_cast<int>(b.size())) != 1) {
        // Uniqueness, not secrecy, is what a MessageID needs; the clock is enough then.
        const auto t = std::chrono::steady_clock::now().time_since_epoch().count();
        for (std::size_t i = 0; i < b.size(); ++i) {
            b[i] = static_cast<unsigned char>(static_cast<std::uint64_t>(t) >> ((i % 8) * 8));
        }
    }
    b[6] = static_cast<unsigned char>((b[6] & 0x0FU) | 0x40U);
    b[8] = static_cast<unsigned char>((b[8] & 0x3FU) | 0x80U);
    std::array<char, 37> out{};
    (void)std::snprintf(out.data(), out.size(),
                        "%02X%02X%02X%02X-%02X%02X-%02X%02X-%02X%02X-%02X%02X%02X%02X%02X%02X",
                        b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
                        b[12], b[13], b[14], b[15]);
    return "uuid:" + std::string(out.data());
}

// ---- namespace-aware reading on top of pugixml (which does not resolve prefixes)

std::string_view local_name(const pugi::xml_node& node) {
    const std::string_view name = node.name();
    const auto colon = name.find(':');
    return colon == std::string_view::npos ? name : name.substr(colon + 1);
}

std::string namespace_for_prefix(pugi::xml_node node, std::string_view prefix) {
    const std::string attribute = prefix.empty() ? "xmlns" : "xmlns:" + std::string(prefix);
    for (; node; node = node.parent()) {
        if (const auto a = node.attribute(attribute.c_str())) {
            return a.value();
        }
    }
    return {};
}

std::string namespace_of(const pugi::xml_node& node) {
    const std::string_view name = node.name();
    const auto colon = name.find(':');
    return namespace_for_prefix(node, colon == std::string_view::npos ? std::string_view{}
                                                                      : name.substr(0, colon));
}

bool is(const pugi::xml_node& node, std::string_view ns, std::string_view local) {
    return node.type() == pugi::node_element && local_name(node) == local &&
           namespace_of(node) == ns;
}

pugi::xml_node child(const pugi::xml_node& parent, std::string_view ns, std::string_view local) {
    for (auto c : parent.children()) {
        if (is(c, ns, local)) {
            return c;
        }
    }
    return {};
}

bool attribute_is_nil(const pugi::xml_node& node) {
    for (auto a : node.attributes()) {
        const std::string_view name = a.name();
        const auto colon = name.find(':');
        if (colon != std::string_view::npos && name.substr(colon + 1) == "nil" &&
            namespace_for_prefix(node, name.substr(0, colon)) == kNsXsi) {
            return std::string_view(a.value()) == "true" || std::string_view(a.value()) == "1";
        }
    }
    return false;
}

std::string trimmed(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())) != 0) {
        s.remove_prefix(1);
    }
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())) != 0) {
        s.remove_suffix(1);
    }
    return std::string(s);
}

WmiObject parse_instance(const pugi::xml_node& item) {
    WmiObject object;
    object.class_name = std::string(local_name(item));
    for (auto c : item.children()) {
        if (c.type() != pugi::node_element) {
            continue;
        }
        auto& property = object.properties[std::string(local_name(c))];
        if (attribute_is_nil(c)) {
            if (property.values.empty()) {
                property.is_null = true;
            }
            continue;
        }
        property.is_null = false;
        if (const auto dt = child(c, kNsCim, "Datetime")) {
            property.is_datetime = true;
            property.values.emplace_back(trimmed(dt.text().get()));
        } else {
            property.values.emplace_back(c.text().get());
        }
    }
    return object;
}

ObjectRef parse_reference(const pugi::xml_node& epr) {
    ObjectRef ref;
    const auto params = child(epr, kNsAddressing, "ReferenceParameters");
    const std::string uri = trimmed(child(params, kNsWsman, "ResourceURI").text().get());
    ref.class_name = uri.substr(uri.rfind('/') + 1);
    for (auto s : child(params, kNsWsman, "SelectorSet").children()) {
        if (is(s, kNsWsman, "Selector")) {
            ref.selectors.emplace_back(s.attribute("Name").value(), trimmed(s.text().get()));
        }
    }
    return ref;
}

std::string canonical_qname(const pugi::xml_node& context, std::string_view qname) {
    const auto colon = qname.find(':');
    if (colon == std::string_view::npos) {
        return std::string(qname);
    }
    const std::string ns = namespace_for_prefix(context, qname.substr(0, colon));
    const std::string local(qname.substr(colon + 1));
    if (ns == kNsWsman) {
        return "wsman:" + local;
    }
    if (ns == kNsAddressing) {
        return "wsa:" + local;
    }
    if (ns == kNsEnumeration) {
        return "wsen:" + local;
    }
    if (ns == kNsTransfer) {
        return "wxf:" + local;
    }
    if (ns == kNsSoap) {
        return "soap:" + local;
    }
    return std::string(qname);
}

// The whole of `text` as an unsigned decimal number; nullopt for anything else (a sign,
// blanks, trailing text, overflow). The service's replies are input, so no exceptions.
template <class Unsigned> std::optional<Unsigned> parse_unsigned(std::string_view text) {
    Unsigned value = 0;
    const char* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (text.empty() || ec != std::errc{} || ptr != end) {
        return std::nullopt;
    }
    return value;
}

// WMI reports HRESULTs such as 0x80041002 (not found) as decimal; hex is what admins
// search for.
std::string wmi_code_text(std::string_view decimal) {
    const auto v = parse_unsigned<unsigned long long>(decimal);
    if (!v) {
        return std::string(decimal);
    }
    std::array<char, 24> out{};
    (void)std::snprintf(out.data(), out.size(), *v > 0xFFFFU ? "0x%08llX" : "%llu", *v);
    return out.data();
}

// "fault wsman:InvalidSelectors: <reason> (detail: ...; WMI error 0x80041002: ...)"
std::string describe_fault(const pugi::xml_node& fault) {
    const auto code = child(fault, kNsSoap, "Code");
    auto value = child(code, kNsSoap, "Value");
    std::string name = canonical_qname(value, trimmed(value.text().get()));
    if (const auto sub = child(child(code, kNsSoap, "Subcode"), kNsSoap, "Value")) {
        name = canonical_qname(sub, trimmed(sub.text().get()));
    }
    const std::string reason =
        trimmed(child(child(fault, kNsSoap, "Reason"), kNsSoap, "Text").text().get());
    std::string text = "SOAP fault " + name + ": " + (reason.empty() ? "(no reason)" : reason);

    std::vector<std::string> extra;
    const auto detail = child(fault, kNsSoap, "Detail");
    if (const auto fd = child(detail, kNsWsman, "FaultDetail")) {
        const std::string uri = trimmed(fd.text().get());
        extra.push_back("detail " + uri.substr(uri.rfind('/') + 1));
    }
    // The innermost f:WSManFault carries the provider's (WMI's) own code and message.
    pugi::xml_node innermost;
    for (auto n : detail.select_nodes(".//*")) {
        if (is(n.node(), kNsWsmanFault, "WSManFault")) {
            innermost = n.node();
        }
    }
    if (innermost) {
        std::string wmi = "WMI error " + wmi_code_text(innermost.attribute("Code").value());
        const auto message = child(innermost, kNsWsmanFault, "Message");
        std::string own;
        for (auto t : message.children()) {
            if (t.type() == pugi::node_pcdata || t.type() == pugi::node_cdata) {
                own += t.value();
            }
        }
        own = trimmed(own);
        if (!own.empty() && own != reason) {
            wmi += ": " + own;
        }
        extra.push_back(std::move(wmi));
    }
    if (!extra.empty()) {
        text += " (";
        for (std::size_t i = 0; i < extra.size(); ++i) {
            text += (i == 0 ? "" : "; ") + extra[i];
        }
        text += ")";
    }
    return text;
}

std::string wql_class(std::string_view wql) {
    std::string upper;
    for (const char c : wql) {
        upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    const auto from = upper.find(" FROM ");
    if (from == std::string::npos) {
        return "query";
    }
    auto rest = wql.substr(from + 6);
    const auto end = rest.find_first_of(" \t\r\n");
    return std::string(rest.substr(0, end));
}

void add_selectors(pugi::xml_node parent, const ObjectRef& ref) {
    auto set = parent.append_child("w:SelectorSet");
    for (const auto& [name, value] : ref.selectors) {
        auto s = set.append_child("w:Selector");
        s.append_attribute("Name").set_value(name.c_str());
        s.text().set(value.c_str());
    }
}

} // namespace

// One request envelope under construction.
struct WsmanClient::Envelope {
    pugi::xml_document doc;
    pugi::xml_node header;
    pugi::xml_node body;
    std::string message_id;

    Envelope(const std::string& to, const std::string& uri, const std::string& action,
             const WsmanOptions& options) {
        auto env = doc.append_child("s:Envelope");
        env.append_attribute("xmlns:s").set_value(kNsSoap);
        env.append_attribute("xmlns:a").set_value(kNsAddressing);
        env.append_attribute("xmlns:w").set_value(kNsWsman);
        env.append_attribute("xmlns:n").set_value(kNsEnumeration);
        header = env.append_child("s:Header");
        body = env.append_child("s:Body");
        header.append_child("a:To").text().set(to.c_str());
        auto r = header.append_child("w:ResourceURI");
        r.append_attribute("s:mustUnderstand").set_value("true");
        r.text().set(uri.c_str());
        auto reply_to = header.append_child("a:ReplyTo").append_child("a:Address");
        reply_to.append_attribute("s:mustUnderstand").set_value("true");
        reply_to.text().set(kAnonymous);
        auto a = header.append_child("a:Action");
        a.append_attribute("s:mustUnderstand").set_value("true");
        a.text().set(action.c_str());
        auto size = header.append_child("w:MaxEnvelopeSize");
        size.append_attribute("s:mustUnderstand").set_value("true");
        size.text().set(std::to_string(options.max_envelope_size).c_str());
        message_id = new_message_id();
        header.append_child("a:MessageID").text().set(message_id.c_str());
        auto locale = header.append_child("w:Locale");
        locale.append_attribute("xml:lang").set_value("en-US");
        locale.append_attribute("s:mustUnderstand").set_value("false");
        header.append_child("w:OperationTimeout")
            .text()
            .set(("PT" + std::to_string(options.operation_timeout.count()) + ".000S").c_str());
    }

    [[nodiscard]] std::string str() const {
        std::ostringstream out;
        doc.save(out, "", pugi::format_raw, pugi::encoding_utf8);
        return out.str();
    }
};

WsmanClient::WsmanClient(std::string endpoint, std::unique_ptr<WsmanTransport> transport,
                         WsmanOptions options)
    : endpoint_(std::move(endpoint)), transport_(std::move(transport)), options_(options) {}

Result<std::string> WsmanClient::exchange(const std::string& request, std::string_view operation,
                                          bool* soap_fault) {
    const auto context = "WS-Management endpoint " + endpoint_ + ": " + std::string(operation);
    auto reply = transport_->post(request);
    if (!reply) {
        return tl::unexpected(reply.error().with_context(context));
    }
    if (reply->status == 401) {
        return fail(ErrorCode::provider,
                    context + ": authentication failed (HTTP 401): the host refused the "
                              "configured credentials; check auth.username and "
                              "auth.password_file, or the client certificate");
    }
    if (reply->status == 200) {
        return std::move(reply->body);
    }
    pugi::xml_document doc;
    if (doc.load_string(reply->body.c_str())) {
        const auto fault = child(child(doc.document_element(), kNsSoap, "Body"), kNsSoap, "Fault");
        if (fault) {
            if (soap_fault != nullptr) {
                *soap_fault = true;
            }
            return fail(ErrorCode::provider, context + ": " + describe_fault(fault));
        }
    }
    return fail(ErrorCode::provider,
                context + ": unexpected HTTP status " + std::to_string(reply->status));
}

namespace {

// Parses a 200 reply and returns its SOAP body; a fault sent with status 200 is still a fault.
Result<pugi::xml_node> reply_body(pugi::xml_document& doc, const std::string& text,
                                  const std::string& message_id, const std::string& context) {
    const auto parsed = doc.load_string(text.c_str());
    if (!parsed) {
        return fail(ErrorCode::provider,
                    context + ": the reply is not XML: " + std::string(parsed.description()));
    }
    const auto env = doc.document_element();
    if (!is(env, kNsSoap, "Envelope")) {
        return fail(ErrorCode::provider, context + ": the reply is not a SOAP 1.2 envelope");
    }
    const auto relates = child(child(env, kNsSoap, "Header"), kNsAddressing, "RelatesTo");
    if (relates && trimmed(relates.text().get()) != message_id) {
        return fail(ErrorCode::provider,
                    context + ": the reply relates to another request (RelatesTo mismatch)");
    }
    const auto body = child(env, kNsSoap, "Body");
    if (!body) {
        return fail(ErrorCode::provider, context + ": the reply has no SOAP body");
    }
    if (const auto fault = child(body, kNsSoap, "Fault")) {
        return fail(ErrorCode::provider, context + ": " + describe_fault(fault));
    }
    return body;
}

} // namespace

void WsmanClient::release(const std::string& uri, const std::string& context) {
    Envelope env(endpoint_, uri, std::string(kNsEnumeration) + "/Release", options_);
    env.body.append_child("n:Release")
        .append_child("n:EnumerationContext")
        .text()
        .set(context.c_str());
    // Best effort: the enumeration already failed and that error is what the caller
    // reports; the service expires the context on its own anyway.
    if (auto reply = exchange(env.str(), "Release"); !reply) {
        log::debug(reply.error().message);
    }
}

Result<std::vector<WmiObject>>
WsmanClient::enumerate(const std::string& uri, const std::string& wql, std::string_view operation) {
    const std::string where = "WS-Management endpoint " + endpoint_ + ": " + std::string(operation);
    Envelope env(endpoint_, uri, std::string(kNsEnumeration) + "/Enumerate", options_);
    auto enumerate = env.body.append_child("n:Enumerate");
    enumerate.append_child("w:OptimizeEnumeration");
    enumerate.append_child("w:MaxElements")
        .text()
        .set(std::to_string(options_.max_elements).c_str());
    if (!wql.empty()) {
        auto filter = enumerate.append_child("w:Filter");
        filter.append_attribute("Dialect").set_value(kWqlDialect);
        filter.text().set(wql.c_str());
    }
    auto text = exchange(env.str(), operation);
    if (!text) {
        return tl::unexpected(text.error());
    }

    std::vector<WmiObject> items;
    std::string context;
    bool end = false;
    // Reads one EnumerateResponse or PullResponse: items, new context, end marker.
    auto absorb = [&](const std::string& reply, const std::string& message_id,
                      std::string_view response) -> Result<void> {
        pugi::xml_document doc;
        auto body = reply_body(doc, reply, message_id, where);
        if (!body) {
            return tl::unexpected(body.error());
        }
        const auto r = child(*body, kNsEnumeration, response);
        if (!r) {
            return fail(ErrorCode::provider, where + ": the reply has no " + std::string(response));
        }
        if (const auto c = child(r, kNsEnumeration, "EnumerationContext")) {
            context = trimmed(c.text().get());
        } else {
            context.clear();
        }
        // Optimized enumeration puts items and the end marker in the wsman namespace,
        // Pull in the enumeration namespace (DSP0226 8.2.3).
        for (const char* ns : {kNsWsman, kNsEnumeration}) {
            for (auto item : child(r, ns, "Items").children()) {
                if (item.type() == pugi::node_element) {
                    items.push_back(parse_instance(item));
                }
            }
            end = end || static_cast<bool>(child(r, ns, "EndOfSequence"));
        }
        if (items.size() > options_.max_items) {
            return fail(ErrorCode::provider, where + ": more than " +
                                                 std::to_string(options_.max_items) +
                                                 " items; refusing to continue");
        }
        if (!end && context.empty()) {
            return fail(ErrorCode::provider, where + ": the service sent neither items to the "
                                                     "end nor an enumeration context");
        }
        return {};
    };

    if (auto ok = absorb(*text, env.message_id, "EnumerateResponse"); !ok) {
        return tl::unexpected(ok.error());
    }
    while (!end) {
        Envelope pull(endpoint_, uri, std::string(kNsEnumeration) + "/Pull", options_);
        auto p = pull.body.append_child("n:Pull");
        p.append_child("n:EnumerationContext").text().set(context.c_str());
        p.append_child("n:MaxElements").text().set(std::to_string(options_.max_elements).c_str());
        bool fault = false;
        auto reply = exchange(pull.str(), std::string(operation) + " (Pull)", &fault);
        if (!reply) {
            // A fault on Pull (e.g. wsen:InvalidEnumerationContext) ends the enumeration on
            // the service's side; a transport error may not, so release then.
            if (!fault) {
                release(uri, context);
            }
            return tl::unexpected(reply.error());
        }
        if (auto ok = absorb(*reply, pull.message_id, "PullResponse"); !ok) {
            if (!context.empty()) {
                release(uri, context);
            }
            return tl::unexpected(ok.error());
        }
    }
    return items;
}

Result<std::vector<WmiObject>> WsmanClient::query(std::string_view wql) {
    return enumerate(resource_uri(kVirtualizationNamespace, "*"), std::string(wql),
                     "Enumerate " + wql_class(wql));
}

Result<std::vector<WmiObject>> WsmanClient::enumerate_class(std::string_view class_name,
                                                            std::string_view cim_namespace) {
    return enumerate(resource_uri(cim_namespace, class_name), {},
                     "Enumerate " + std::string(class_name));
}

Result<void> WsmanClient::pull_context(std::string_view context) {
    const auto uri = resource_uri(kVirtualizationNamespace, "*");
    Envelope pull(endpoint_, uri, std::string(kNsEnumeration) + "/Pull", options_);
    pull.body.append_child("n:Pull")
        .append_child("n:EnumerationContext")
        .text()
        .set(std::string(context).c_str());
    auto reply = exchange(pull.str(), "Pull");
    if (!reply) {
        return tl::unexpected(reply.error());
    }
    pugi::xml_document doc;
    auto body = reply_body(doc, *reply, pull.message_id, "Pull");
    if (!body) {
        return tl::unexpected(body.error());
    }
    return {};
}

Result<WmiObject> WsmanClient::get(const ObjectRef& ref) {
    const std::string operation = "Get " + ref.class_name;
    Envelope env(endpoint_, resource_uri(kVirtualizationNamespace, ref.class_name),
                 std::string(kNsTransfer) + "/Get", options_);
    add_selectors(env.header, ref);
    auto text = exchange(env.str(), operation);
    if (!text) {
        return tl::unexpected(text.error());
    }
    pugi::xml_document doc;
    auto body = reply_body(doc, *text, env.message_id,
                           "WS-Management endpoint " + endpoint_ + ": " + operation);
    if (!body) {
        return tl::unexpected(body.error());
    }
    const auto item =
        body->find_child([](const pugi::xml_node& n) { return n.type() == pugi::node_element; });
    if (!item) {
        return fail(ErrorCode::provider, "WS-Management endpoint " + endpoint_ + ": " + operation +
                                             ": the reply holds no instance");
    }
    return parse_instance(item);
}

Result<MethodResult> WsmanClient::invoke(const ObjectRef& target, std::string_view method,
                                         const std::vector<MethodParameter>& parameters) {
    const std::string m(method);
    const std::string operation = "Invoke " + target.class_name + "." + m;
    const std::string where = "WS-Management endpoint " + endpoint_ + ": " + operation;
    const std::string uri = resource_uri(kVirtualizationNamespace, target.class_name);
    Envelope env(endpoint_, uri, uri + "/" + m, options_);
    add_selectors(env.header, target);
    auto input = env.body.append_child(("p:" + m + "_INPUT").c_str());
    input.append_attribute("xmlns:p").set_value(uri.c_str());
    for (const auto& parameter : parameters) {
        auto node = input.append_child(("p:" + parameter.name).c_str());
        if (const auto* s = std::get_if<std::string>(&parameter.value)) {
            node.text().set(s->c_str());
        } else if (const auto* ref = std::get_if<ObjectRef>(&parameter.value)) {
            node.append_child("a:Address").text().set(kAnonymous);
            auto params = node.append_child("a:ReferenceParameters");
            params.append_child("w:ResourceURI")
                .text()
                .set(resource_uri(kVirtualizationNamespace, ref->class_name).c_str());
            add_selectors(params, *ref);
        } else {
            // The embedded instance travels as text: pugixml escapes its markup.
            node.text().set(to_cim_xml(std::get<EmbeddedInstance>(parameter.value)).c_str());
        }
    }
    auto text = exchange(env.str(), operation);
    if (!text) {
        return tl::unexpected(text.error());
    }
    pugi::xml_document doc;
    auto body = reply_body(doc, *text, env.message_id, where);
    if (!body) {
        return tl::unexpected(body.error());
    }
    const auto output = child(*body, uri, m + "_OUTPUT");
    if (!output) {
        return fail(ErrorCode::provider, where + ": the reply has no " + m + "_OUTPUT");
    }
    MethodResult result;
    const auto rv = child(output, uri, "ReturnValue");
    const std::string rv_text = trimmed(rv.text().get());
    const auto rv_value = parse_unsigned<std::uint32_t>(rv_text);
    if (!rv_value) {
        const std::string shown = rv_text.size() > 40 ? rv_text.substr(0, 40) + "..." : rv_text;
        return fail(ErrorCode::provider,
                    where + ": the reply has no valid ReturnValue" +
                        (shown.empty() ? std::string() : " ('" + shown + "')"));
    }
    result.return_value = *rv_value;
    if (const auto job = child(output, uri, "Job"); job && !attribute_is_nil(job)) {
        result.job = parse_reference(job);
    }
    return result;
}

} // namespace snapgov::providers::hyperv
