/* The floor: only the libvirt calls snapgov's collection makes (list domains; per domain:
 * UUID, state, labels metadata, list snapshots; per snapshot: XML and is-current), with
 * no parsing or policy work. Usage: floor URI */
#include <stdio.h>
#include <stdlib.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

static void quiet(void* data, virErrorPtr err) {
    (void)data;
    (void)err;
}

int main(int argc, char** argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: floor URI\n");
        return 2;
    }
    virSetErrorFunc(NULL, quiet);
    virConnectPtr conn = virConnectOpenAuth(argv[1], virConnectAuthPtrDefault, 0);
    if (!conn) {
        fprintf(stderr, "cannot connect: %s\n", virGetLastErrorMessage());
        return 2;
    }
    virDomainPtr* doms = NULL;
    int n = virConnectListAllDomains(conn, &doms, 0);
    size_t bytes = 0, snaps_total = 0;
    for (int i = 0; i < n; i++) {
        char uuid[VIR_UUID_STRING_BUFLEN];
        int state, reason;
        virDomainGetUUIDString(doms[i], uuid);
        virDomainGetState(doms[i], &state, &reason, 0);
        char* meta =
            virDomainGetMetadata(doms[i], VIR_DOMAIN_METADATA_ELEMENT, "urn:snapgov:labels", 0);
        free(meta);
        virDomainSnapshotPtr* snaps = NULL;
        int m = virDomainListAllSnapshots(doms[i], &snaps, 0);
        for (int j = 0; j < m; j++) {
            char* xml = virDomainSnapshotGetXMLDesc(snaps[j], 0);
            if (xml) {
                bytes += 1;
                free(xml);
            }
            (void)virDomainSnapshotIsCurrent(snaps[j], 0);
            virDomainSnapshotFree(snaps[j]);
            snaps_total++;
        }
        free(snaps);
        virDomainFree(doms[i]);
    }
    free(doms);
    virConnectClose(conn);
    printf("%d domains, %zu snapshots, %zu XML documents\n", n, snaps_total, bytes);
    return 0;
}
