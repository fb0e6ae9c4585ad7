using Google.Protobuf;
using Sluice.Protocol.V1;
using Record = Sluice.Protocol.V1.Record;

namespace Sluice.Protocol.Tests;

public sealed class EventSerializationTests
{
    [Fact]
    public void EventBatch_WithNonUtf8Argv_RoundTripsByteExactly()
    {
        byte[] notUtf8 = [0x66, 0xff, 0xfe, 0x00, 0x80];
        var batch = new EventBatch
        {
            AgentId = "host-a",
            Sequence = 42,
            Loss = new LossCounters { KernelLost = 3, SerialGaps = 7 },
        };
        var ev = new Event { Serial = 4294967295, Timestamp = "1795567849.693", Pid = 0, Success = false };
        ev.Argv.Add(ByteString.CopyFrom(notUtf8));
        ev.Records.Add(new Record { Type = 1300, Raw = ByteString.CopyFromUtf8("audit(1795567849.693:1): x=1") });
        batch.Events.Add(ev);

        var back = EventBatch.Parser.ParseFrom(batch.ToByteArray());

        Assert.Equal(batch, back);
        Assert.Equal(notUtf8, back.Events[0].Argv[0].ToByteArray());
        // proto3 optional keeps "present but zero/false" apart from "absent".
        Assert.True(back.Events[0].HasPid);
        Assert.True(back.Events[0].HasSuccess);
        Assert.False(back.Events[0].HasExit);
        Assert.Equal(7ul, back.Loss.SerialGaps);
    }
}
