/* nfqdelay.c - add a fixed one-way delay to every packet of an NFQUEUE (latency emulation where
 * the kernel has no sch_netem). Packets are held for DELAY_US microseconds and released in FIFO
 * order with batch verdicts (NFQNL_MSG_VERDICT_BATCH accepts every queued id <= the given one).
 * Raw nfnetlink: needs only the kernel headers (linux-libc-dev), no libnetfilter_queue.
 *
 * usage: nfqdelay DELAY_US [QUEUE_NUM]
 * With, in the same network namespace:
 *   iptables -t mangle -A POSTROUTING -o eth0 -j NFQUEUE --queue-num 0 --queue-bypass
 * Build: cc -O2 -std=gnu11 -Wall -o nfqdelay nfqdelay.c   (launch/cluster.sh does this itself)
 * SIGTERM/SIGINT: release every held packet, unbind, exit 0. Prints "nfqdelay: ready" on stdout
 * once bound, so a launcher can wait for it.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <linux/netlink.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

#define RING (1u << 16)
static struct { uint32_t id; int64_t due; } ring[RING];
static uint32_t head, tail;        /* [head, tail) held, indices mod RING */
static int fd;
static uint16_t queue_num;
static uint32_t seq;
static volatile sig_atomic_t stop;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "nfqdelay: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* Build one nfnetlink message in buf; returns its length. */
static size_t msg_start(char *buf, uint16_t type, uint16_t flags)
{
    struct nlmsghdr *n = (struct nlmsghdr *)buf;
    memset(buf, 0, NLMSG_HDRLEN + sizeof(struct nfgenmsg));
    n->nlmsg_type = (uint16_t)((NFNL_SUBSYS_QUEUE << 8) | type);
    n->nlmsg_flags = (uint16_t)(NLM_F_REQUEST | flags);
    n->nlmsg_seq = ++seq;
    struct nfgenmsg *g = (struct nfgenmsg *)NLMSG_DATA(n);
    g->nfgen_family = AF_UNSPEC;
    g->version = NFNETLINK_V0;
    g->res_id = htons(queue_num);
    n->nlmsg_len = NLMSG_LENGTH(sizeof(struct nfgenmsg));
    return n->nlmsg_len;
}

static void attr_add(char *buf, uint16_t type, const void *data, size_t len)
{
    struct nlmsghdr *n = (struct nlmsghdr *)buf;
    struct nlattr *a = (struct nlattr *)(buf + NLMSG_ALIGN(n->nlmsg_len));
    a->nla_type = type;
    a->nla_len = (uint16_t)(NLA_HDRLEN + len);
    memcpy((char *)a + NLA_HDRLEN, data, len);
    n->nlmsg_len = NLMSG_ALIGN(n->nlmsg_len) + NLA_ALIGN(a->nla_len);
}

static void send_msg(char *buf)
{
    struct nlmsghdr *n = (struct nlmsghdr *)buf;
    struct sockaddr_nl to = {.nl_family = AF_NETLINK};
    while (sendto(fd, buf, n->nlmsg_len, 0, (struct sockaddr *)&to, sizeof to) < 0) {
        if (errno == EINTR) continue;
        if (errno == ENOBUFS || errno == EAGAIN) { usleep(50); continue; }
        die("sendto");
    }
}

/* Send a config message with NLM_F_ACK and wait for its ack (packets may arrive meanwhile:
 * none can, nothing is bound to this queue before the first ack). */
static void config(char *buf, const char *what)
{
    send_msg(buf);
    char rb[8192];
    for (;;) {
        ssize_t r = recv(fd, rb, sizeof rb, 0);
        if (r < 0) { if (errno == EINTR) continue; die("recv (config)"); }
        for (struct nlmsghdr *n = (struct nlmsghdr *)rb; NLMSG_OK(n, (size_t)r); n = NLMSG_NEXT(n, r)) {
            if (n->nlmsg_type == NLMSG_ERROR) {
                struct nlmsgerr *e = (struct nlmsgerr *)NLMSG_DATA(n);
                if (e->error == 0) return;
                errno = -e->error;
                die(what);
            }
        }
    }
}

static void verdict_upto(uint32_t id)
{
    char buf[256];
    msg_start(buf, NFQNL_MSG_VERDICT_BATCH, 0);
    struct nfqnl_msg_verdict_hdr vh = {.verdict = htonl(NF_ACCEPT), .id = htonl(id)};
    attr_add(buf, NFQA_VERDICT_HDR, &vh, sizeof vh);
    send_msg(buf);
}

/* Release every held packet due at or before t (all of them when t < 0). */
static void release(int64_t t)
{
    uint32_t last = head;
    int any = 0;
    while (last != tail && (t < 0 || ring[last % RING].due <= t)) { last++; any = 1; }
    if (!any) return;
    verdict_upto(ring[(last - 1) % RING].id);
    head = last;
}

static void on_signal(int sig) { (void)sig; stop = 1; }

static void receive(int64_t delay_ns)
{
    static char rb[1 << 17];
    for (;;) {
        ssize_t r = recv(fd, rb, sizeof rb, MSG_DONTWAIT);
        if (r < 0) {
            if (errno == EAGAIN || errno == EINTR) return;
            if (errno == ENOBUFS) continue;     /* lost notifications: a later batch verdict frees them */
            die("recv");
        }
        int64_t due = now_ns() + delay_ns;
        for (struct nlmsghdr *n = (struct nlmsghdr *)rb; NLMSG_OK(n, (size_t)r); n = NLMSG_NEXT(n, r)) {
            if (n->nlmsg_type != ((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET)) continue;
            char *p = (char *)NLMSG_DATA(n) + NLMSG_ALIGN(sizeof(struct nfgenmsg));
            char *end = (char *)n + n->nlmsg_len;
            while (p + NLA_HDRLEN <= end) {
                struct nlattr *a = (struct nlattr *)p;
                if (a->nla_len < NLA_HDRLEN || p + a->nla_len > end) break;
                if ((a->nla_type & NLA_TYPE_MASK) == NFQA_PACKET_HDR) {
                    struct nfqnl_msg_packet_hdr *ph = (struct nfqnl_msg_packet_hdr *)(p + NLA_HDRLEN);
                    if (tail - head >= RING) release(-1);   /* full: let the oldest go now */
                    ring[tail % RING].id = ntohl(ph->packet_id);
                    ring[tail % RING].due = due;
                    tail++;
                    break;
                }
                p += NLA_ALIGN(a->nla_len);
            }
        }
    }
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: nfqdelay DELAY_US [QUEUE_NUM]\n");
        return 2;
    }
    int64_t delay_ns = strtoll(argv[1], NULL, 10) * 1000;
    queue_num = argc > 2 ? (uint16_t)atoi(argv[2]) : 0;
    if (delay_ns < 0) { fprintf(stderr, "nfqdelay: negative delay\n"); return 2; }

    fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
    if (fd < 0) die("socket(NETLINK_NETFILTER)");
    struct sockaddr_nl me = {.nl_family = AF_NETLINK};
    if (bind(fd, (struct sockaddr *)&me, sizeof me) < 0) die("bind");
    int big = 8 << 20, one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big) < 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    setsockopt(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof one);

    char buf[256];
    struct nfqnl_msg_config_cmd cmd = {.command = NFQNL_CFG_CMD_BIND, .pf = htons(AF_UNSPEC)};
    msg_start(buf, NFQNL_MSG_CONFIG, NLM_F_ACK);
    attr_add(buf, NFQA_CFG_CMD, &cmd, sizeof cmd);
    config(buf, "bind queue (is another nfqdelay bound to it?)");

    struct nfqnl_msg_config_params params = {.copy_range = htonl(0), .copy_mode = NFQNL_COPY_META};
    msg_start(buf, NFQNL_MSG_CONFIG, NLM_F_ACK);
    attr_add(buf, NFQA_CFG_PARAMS, &params, sizeof params);
    uint32_t maxlen = htonl(RING / 2);
    attr_add(buf, NFQA_CFG_QUEUE_MAXLEN, &maxlen, sizeof maxlen);
    config(buf, "set copy mode and queue length");

    uint32_t flags = htonl(NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_GSO);
    msg_start(buf, NFQNL_MSG_CONFIG, NLM_F_ACK);
    attr_add(buf, NFQA_CFG_MASK, &flags, sizeof flags);
    attr_add(buf, NFQA_CFG_FLAGS, &flags, sizeof flags);
    config(buf, "set flags");

    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigset_t block, orig;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGHUP);
    sigprocmask(SIG_BLOCK, &block, &orig);   /* delivered only inside ppoll: no lost wakeup */

    printf("nfqdelay: ready (queue %u, delay %lld us)\n", queue_num, (long long)(delay_ns / 1000));
    fflush(stdout);

    while (!stop) {
        struct timespec ts, *tp = NULL;
        if (head != tail) {
            int64_t wait = ring[head % RING].due - now_ns();
            if (wait < 0) wait = 0;
            ts.tv_sec = wait / 1000000000;
            ts.tv_nsec = wait % 1000000000;
            tp = &ts;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = ppoll(&p, 1, tp, &orig);
        if (r < 0 && errno != EINTR) die("ppoll");
        if (r > 0) receive(delay_ns);
        release(now_ns());
    }
    receive(0);
    release(-1);
    msg_start(buf, NFQNL_MSG_CONFIG, 0);
    cmd.command = NFQNL_CFG_CMD_UNBIND;
    attr_add(buf, NFQA_CFG_CMD, &cmd, sizeof cmd);
    send_msg(buf);
    close(fd);
    return 0;
}
