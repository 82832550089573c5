"""Wake-ups: the delay from a producer's push (stamped into dwContext) to
wait() returning and to an asyncio reader callback, one event at a time;
and, with a producer at full speed, how many system calls producers made
to wake the consumer per 1,000 events."""


def test_wakeup_push_to_wait(case):
    case("wakeup", "push -> wait()")


def test_wakeup_push_to_asyncio_reader(case):
    case("wakeup", "push -> asyncio reader")


def test_wakeup_saturated_wait(case):
    case("wakeup", "saturated, wait()")


def test_wakeup_saturated_c_consumer_in_wait(case):
    case("wakeup", "saturated, C consumer in wait()")


def test_wakeup_saturated_asyncio_reader(case):
    case("wakeup", "saturated, asyncio reader")
