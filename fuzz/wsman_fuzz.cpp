// Fuzz target: the WS-Management response parser, through the real client and the Hyper-V
// provider. The input is the sequence of HTTP replies the service sends, separated by a line
// "%%%"; a reply starting with "!" comes with HTTP status 500 (a SOAP fault or garbage), any
// other with 200. When the replies run out, the transport fails as a dropped connection does.
// One collect() (Enumerate/Pull of every class the provider reads, then the mapping to an
// inventory) is followed by a Get and a method call, which parse an instance and a
// `_OUTPUT` body from whatever replies are left.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "core/log.hpp"
#include "fuzz/fuzz_input.hpp"
#include "providers/hyperv/hyperv_provider.hpp"
#include "providers/hyperv/wsman_client.hpp"

using namespace snapgov;
using namespace snapgov::providers::hyperv;

namespace {

using Replies = std::deque<HttpReply>;

class ScriptedTransport final : public WsmanTransport {
public:
    explicit ScriptedTransport(std::shared_ptr<Replies> replies) : replies_(std::move(replies)) {}
    Result<HttpReply> post(const std::string& /*envelope*/) override {
        if (replies_->empty()) {
            return fail(ErrorCode::provider, "connection closed by the fuzzer");
        }
        auto reply = std::move(replies_->front());
        replies_->pop_front();
        return reply;
    }

private:
    std::shared_ptr<Replies> replies_;
};

const char* const kEndpoint = "https://hv.invalid:5986/wsman";

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const bool quiet = [] {
        log::set_level(log::Level::error);
        return true;
    }();
    (void)quiet;
    auto replies = std::make_shared<Replies>();
    for (auto part : fuzz::split(fuzz::as_text(data, size), "\n%%%\n")) {
        HttpReply reply{200, "application/soap+xml;charset=UTF-8", {}};
        if (part.starts_with("!")) {
            reply.status = 500;
            part.remove_prefix(1);
        }
        reply.body = std::string(part);
        replies->push_back(std::move(reply));
    }
    {
        HypervProvider provider(
            "hv", std::make_unique<WsmanClient>(
                      kEndpoint, std::make_unique<ScriptedTransport>(replies), WsmanOptions{}));
        (void)provider.collect();
    }
    WsmanClient client(kEndpoint, std::make_unique<ScriptedTransport>(replies));
    const ObjectRef ref{"Msvm_VirtualSystemSettingData",
                        {{"InstanceID", "Microsoft:C0000001-AAAA-4BBB-8CCC-000000000001"}}};
    (void)client.get(ref);
    (void)client.invoke(ref, "DestroySnapshot", {{"AffectedSnapshot", ref}});
    return 0;
}
