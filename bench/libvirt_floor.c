/* The serial floor on a real libvirtd (issue 15): the fewest libvirt calls that read what a
 * collection needs, one after the other on one connection, with no parsing or policy work:
 * list domains; per domain the labels metadata and the list of snapshots; per snapshot its
 * XML. Usage: libvirt_floor URI */
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
        fprintf(stderr, "usage: libvirt_floor URI\n");
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
    if (n < 0) {
        fprintf(stderr, "cannot list domains: %s\n", virGetLastErrorMessage());
        return 2;
    }
    size_t docs = 0, snaps_total = 0, labels = 0;
    for (int i = 0; i < n; i++) {
        char* meta =
            virDomainGetMetadata(doms[i], VIR_DOMAIN_METADATA_ELEMENT, "urn:snapgov:labels", 0);
        if (meta) {
            labels++;
            free(meta);
        }
        virDomainSnapshotPtr* snaps = NULL;
        int m = virDomainListAllSnapshots(doms[i], &snaps, 0);
        for (int j = 0; j < m; j++) {
            char* xml = virDomainSnapshotGetXMLDesc(snaps[j], 0);
            if (xml) {
                docs++;
                free(xml);
            }
            virDomainSnapshotFree(snaps[j]);
            snaps_total++;
        }
        free(snaps);
        virDomainFree(doms[i]);
    }
    free(doms);
    virConnectClose(conn);
    printf("%d domains (%zu labelled), %zu snapshots, %zu XML documents\n", n, labels, snaps_total,
           docs);
    return 0;
}
