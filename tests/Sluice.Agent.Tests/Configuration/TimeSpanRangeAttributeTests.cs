using Sluice.Agent.Configuration;

namespace Sluice.Agent.Tests.Configuration;

public sealed class TimeSpanRangeAttributeTests
{
    private readonly TimeSpanRangeAttribute _range = new("00:00:00.010", "1.00:00:00");

    [Fact]
    public void IsValid_LimitsAreInclusive()
    {
        Assert.True(_range.IsValid(TimeSpan.FromMilliseconds(10)));
        Assert.True(_range.IsValid(TimeSpan.FromDays(1)));
        Assert.True(_range.IsValid(TimeSpan.FromMinutes(5)));
        Assert.False(_range.IsValid(TimeSpan.FromMilliseconds(9)));
        Assert.False(_range.IsValid(TimeSpan.FromDays(1) + TimeSpan.FromTicks(1)));
        Assert.False(_range.IsValid(TimeSpan.FromSeconds(-1)));
    }

    [Fact]
    public void IsValid_NullPassesAndOtherTypesFail()
    {
        Assert.True(_range.IsValid(null));
        Assert.False(_range.IsValid(60));
        Assert.False(_range.IsValid("00:01:00"));
    }

    [Fact]
    public void FormatErrorMessage_ReadsAsRangeAttributeWithTheLimitsAsWritten()
    {
        Assert.Equal("The field Shipping.AttemptTimeout must be between 00:00:00.010 and 1.00:00:00.",
            _range.FormatErrorMessage("Shipping.AttemptTimeout"));
    }

    [Theory]
    [InlineData("soon", "00:10:00")]
    [InlineData("00:00:01", "ten minutes")]
    [InlineData("00:10:00", "00:00:01")]
    public void Constructor_BadLimits_Throw(string minimum, string maximum)
    {
        Assert.Throws<ArgumentException>(() => new TimeSpanRangeAttribute(minimum, maximum));
    }
}
