using Sluice.Collector.Streaming;

namespace Sluice.Collector.Tests.Stream;

public sealed class StreamSubjectsTests
{
    [Theory]
    [InlineData("web-1", "web-1")]
    [InlineData("web-1.example.com", "web-1%2Eexample%2Ecom")]
    [InlineData("", "%")]
    [InlineData("*", "%2A")]
    [InlineData(">", "%3E")]
    [InlineData("a b\tc", "a%20b%09c")]
    [InlineData("%", "%25")]
    [InlineData("%41", "%2541")]
    [InlineData("é", "%C3%A9")]
    [InlineData("日本", "%E6%97%A5%E6%9C%AC")]
    [InlineData("$SYS", "%24SYS")]
    [InlineData("a:b", "a%3Ab")]
    public void EncodeToken_OneValidSubjectToken_DecodesBack(string id, string token)
    {
        Assert.Equal(token, StreamSubjects.EncodeToken(id));
        Assert.Matches("^[A-Za-z0-9_%-]+$", token);
        Assert.Equal(id, StreamSubjects.DecodeToken(token));
    }

    [Fact]
    public void EncodeToken_DistinctIdsGetDistinctTokens()
    {
        string[] ids = ["a.b", "a%2Eb", "a_b", "a-b", "", "%", "a b", "a\u00a0b", "A.B"];
        Assert.Equal(ids.Length, ids.Select(StreamSubjects.EncodeToken).Distinct(StringComparer.Ordinal).Count());
    }

    [Theory]
    [InlineData("a.b")]
    [InlineData("%4")]
    [InlineData("%ZZ")]
    [InlineData("%FF")]
    public void DecodeToken_NotAnEncoding_Refused(string token) =>
        Assert.Throws<FormatException>(() => StreamSubjects.DecodeToken(token));

    [Fact]
    public void MessageId_EpochOrBootId_AndTheOrdinal()
    {
        Assert.Equal("web-1%2Ex:Eep%3A1:42:7:3", StreamSubjects.MessageId("web-1.x", "ep:1", "boot", 42, 7, 3));
        Assert.Equal("web-1:Bboot-1:42:0:0", StreamSubjects.MessageId("web-1", "", "boot-1", 42, 0, 0));
        // Two events with serial 0 in one batch get two ids.
        Assert.NotEqual(StreamSubjects.MessageId("a", "e", "", 1, 0, 0), StreamSubjects.MessageId("a", "e", "", 1, 0, 1));
    }

    [Theory]
    [InlineData("sluice.events.>", true)]
    [InlineData(">", true)]
    [InlineData("sluice.>", true)]
    [InlineData("sluice.*.*.*", true)]
    [InlineData("sluice.events.*.*", true)]
    [InlineData("sluice.events.*", false)]
    [InlineData("sluice.events.web-1.>", false)]
    [InlineData("other.>", false)]
    [InlineData("sluice.events.*.process", false)]
    public void Covers_StreamSubjectsThatTakeEveryEvent(string pattern, bool covers) =>
        Assert.Equal(covers, StreamSubjects.Covers(pattern, StreamSubjects.Shape));
}
