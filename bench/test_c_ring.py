"""The C ring alone against DPDK's rte_ring and Concurrency Kit's ck_ring,
built side by side from bench/peers/cring.c in this run: 64-byte records,
the same producer and consumer loops and back-off, single and two
producers, 1, 8 and 32 records per enqueue/dequeue; and the producers
alone with no consumer (the shared enqueue counter)."""


def test_cring_1p_bulk1_cbring(case):
    case("cring", "cbring, 1p, bulk 1")


def test_cring_1p_bulk1_cbring_spill(case):
    case("cring", "cbring spill, 1p, bulk 1")


def test_cring_1p_bulk1_rte_ring(case):
    case("cring", "rte_ring, 1p, bulk 1")


def test_cring_1p_bulk1_ck_ring(case):
    case("cring", "ck_ring, 1p, bulk 1")


def test_cring_1p_bulk8_cbring(case):
    case("cring", "cbring, 1p, bulk 8")


def test_cring_1p_bulk8_cbring_spill(case):
    case("cring", "cbring spill, 1p, bulk 8")


def test_cring_1p_bulk8_rte_ring(case):
    case("cring", "rte_ring, 1p, bulk 8")


def test_cring_1p_bulk8_ck_ring(case):
    case("cring", "ck_ring, 1p, bulk 8")


def test_cring_1p_bulk32_cbring(case):
    case("cring", "cbring, 1p, bulk 32")


def test_cring_1p_bulk32_cbring_spill(case):
    case("cring", "cbring spill, 1p, bulk 32")


def test_cring_1p_bulk32_rte_ring(case):
    case("cring", "rte_ring, 1p, bulk 32")


def test_cring_1p_bulk32_ck_ring(case):
    case("cring", "ck_ring, 1p, bulk 32")


def test_cring_2p_bulk1_cbring(case):
    case("cring", "cbring, 2p, bulk 1")


def test_cring_2p_bulk1_cbring_spill(case):
    case("cring", "cbring spill, 2p, bulk 1")


def test_cring_2p_bulk1_rte_ring(case):
    case("cring", "rte_ring, 2p, bulk 1")


def test_cring_2p_bulk1_ck_ring(case):
    case("cring", "ck_ring, 2p, bulk 1")


def test_cring_2p_bulk8_cbring(case):
    case("cring", "cbring, 2p, bulk 8")


def test_cring_2p_bulk8_cbring_spill(case):
    case("cring", "cbring spill, 2p, bulk 8")


def test_cring_2p_bulk8_rte_ring(case):
    case("cring", "rte_ring, 2p, bulk 8")


def test_cring_2p_bulk8_ck_ring(case):
    case("cring", "ck_ring, 2p, bulk 8")


def test_cring_2p_bulk32_cbring(case):
    case("cring", "cbring, 2p, bulk 32")


def test_cring_2p_bulk32_cbring_spill(case):
    case("cring", "cbring spill, 2p, bulk 32")


def test_cring_2p_bulk32_rte_ring(case):
    case("cring", "rte_ring, 2p, bulk 32")


def test_cring_2p_bulk32_ck_ring(case):
    case("cring", "ck_ring, 2p, bulk 32")


def test_cring_1p_alone_cbring(case):
    case("cring", "cbring, 1p alone")


def test_cring_1p_alone_cbring_spill(case):
    case("cring", "cbring spill, 1p alone")


def test_cring_1p_alone_rte_ring(case):
    case("cring", "rte_ring, 1p alone")


def test_cring_1p_alone_ck_ring(case):
    case("cring", "ck_ring, 1p alone")


def test_cring_2p_alone_cbring(case):
    case("cring", "cbring, 2p alone")


def test_cring_2p_alone_cbring_spill(case):
    case("cring", "cbring spill, 2p alone")


def test_cring_2p_alone_rte_ring(case):
    case("cring", "rte_ring, 2p alone")


def test_cring_2p_alone_ck_ring(case):
    case("cring", "ck_ring, 2p alone")


def test_ring_callback_1p_alone(case):
    case("cring", "Ring callback, 1p alone")


def test_ring_callback_2p_alone(case):
    case("cring", "Ring callback, 2p alone")
