/* The serial floor on a real libvirtd (issue 15): the fewest libvirt calls that read what a
 * collection needs, one after the other on one connection, with no parsing or policy work:
 * list domains; per domain the labels metadata and the list of snapshots; per snapshot its
 * XML. Usage: libvirt_floor URI [CONNECTIONS]
 * With CONNECTIONS > 1 the same calls are spread over that many connections, one thread
 * each (every connection lists the domains, then the threads take domains in turn from a
 * shared counter): the parallel floor, what overlapping the calls can reach at best with no
 * client work beyond the calls. No event loop is registered, as in `snapgov plan`. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

static void quiet(void* data, virErrorPtr err) {
    (void)data;
    (void)err;
}

struct shared {
    const char* uri;
    atomic_int next;
    atomic_size_t labels, snapshots, docs;
    atomic_int failed;
    atomic_int domains; /* as listed (every connection lists the same host) */
};

static void* worker(void* arg) {
    struct shared* s = arg;
    virConnectPtr conn = virConnectOpenAuth(s->uri, virConnectAuthPtrDefault, 0);
    if (!conn) {
        fprintf(stderr, "cannot connect: %s\n", virGetLastErrorMessage());
        atomic_store(&s->failed, 1);
        return NULL;
    }
    virDomainPtr* doms = NULL;
    int n = virConnectListAllDomains(conn, &doms, 0);
    if (n < 0) {
        fprintf(stderr, "cannot list domains: %s\n", virGetLastErrorMessage());
        atomic_store(&s->failed, 1);
        virConnectClose(conn);
        return NULL;
    }
    atomic_store(&s->domains, n);
    for (int i; (i = atomic_fetch_add(&s->next, 1)) < n;) {
        char* meta =
            virDomainGetMetadata(doms[i], VIR_DOMAIN_METADATA_ELEMENT, "urn:snapgov:labels", 0);
        if (meta) {
            atomic_fetch_add(&s->labels, 1);
            free(meta);
        }
        virDomainSnapshotPtr* snaps = NULL;
        int m = virDomainListAllSnapshots(doms[i], &snaps, 0);
        for (int j = 0; j < m; j++) {
            char* xml = virDomainSnapshotGetXMLDesc(snaps[j], 0);
            if (xml) {
                atomic_fetch_add(&s->docs, 1);
                free(xml);
            }
            virDomainSnapshotFree(snaps[j]);
            atomic_fetch_add(&s->snapshots, 1);
        }
        free(snaps);
    }
    for (int i = 0; i < n; i++) {
        virDomainFree(doms[i]);
    }
    free(doms);
    virConnectClose(conn);
    return NULL;
}

int main(int argc, char** argv) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: libvirt_floor URI [CONNECTIONS]\n");
        return 2;
    }
    const int connections = argc == 3 ? atoi(argv[2]) : 1;
    if (connections < 1 || connections > 64) {
        fprintf(stderr, "CONNECTIONS must be 1 to 64\n");
        return 2;
    }
    virSetErrorFunc(NULL, quiet);
    struct shared s = {.uri = argv[1]};
    pthread_t threads[64];
    /* One connection is this thread's own: serial means no thread at all. */
    for (int k = 1; k < connections; k++) {
        if (pthread_create(&threads[k], NULL, worker, &s) != 0) {
            fprintf(stderr, "cannot start a thread\n");
            return 2;
        }
    }
    worker(&s);
    for (int k = 1; k < connections; k++) {
        pthread_join(threads[k], NULL);
    }
    if (atomic_load(&s.failed)) {
        return 2;
    }
    printf("%d domains (%zu labelled), %zu snapshots, %zu XML documents, %d connection(s)\n",
           atomic_load(&s.domains), atomic_load(&s.labels), atomic_load(&s.snapshots),
           atomic_load(&s.docs), connections);
    return 0;
}
