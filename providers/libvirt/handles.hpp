#pragma once
/// RAII owners for libvirt's C handles. Each frees its handle exactly once.

#include <cstdlib>
#include <memory>
#include <vector>

#include <libvirt/libvirt.h>

namespace snapgov::providers::libvirt {

struct ConnectCloser {
    void operator()(virConnectPtr c) const noexcept { virConnectClose(c); }
};
struct DomainFreer {
    void operator()(virDomainPtr d) const noexcept { virDomainFree(d); }
};
struct SnapshotFreer {
    void operator()(virDomainSnapshotPtr s) const noexcept { virDomainSnapshotFree(s); }
};
struct CFreer {
    void operator()(char* p) const noexcept { std::free(p); }
};

using ConnectHandle = std::unique_ptr<virConnect, ConnectCloser>;
using DomainHandle = std::unique_ptr<virDomain, DomainFreer>;
using SnapshotHandle = std::unique_ptr<virDomainSnapshot, SnapshotFreer>;
/// A string that libvirt allocated and the caller must free.
using CString = std::unique_ptr<char, CFreer>;

/// Takes ownership of an array of handles that libvirt allocated (`virConnectListAllDomains`,
/// `virDomainListAllSnapshots`): wraps each element, then frees the array itself.
template <class Handle, class Raw> std::vector<Handle> adopt_array(Raw* array, int count) {
    std::vector<Handle> out;
    if (array == nullptr) {
        return out;
    }
    out.reserve(static_cast<std::size_t>(count > 0 ? count : 0));
    for (int i = 0; i < count; ++i) {
        out.emplace_back(array[i]);
    }
    std::free(array);
    return out;
}

} // namespace snapgov::providers::libvirt
