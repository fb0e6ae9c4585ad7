using Sluice.Audit.Tables;

namespace Sluice.Audit.Tests.Tables;

public class ErrnoTableTests
{
    [Theory]
    [InlineData("EPERM", 1)]
    [InlineData("E2BIG", 7)]
    [InlineData("EACCES", 13)]
    [InlineData("EAGAIN", 11)]
    [InlineData("EWOULDBLOCK", 11)]
    [InlineData("ENOSYS", 38)]
    [InlineData("EHWPOISON", 133)]
    public void TryGetNumber_Name_ReturnsErrno(string name, int expected)
    {
        Assert.True(ErrnoTable.TryGetNumber(name, out int errno));
        Assert.Equal(expected, errno);
    }

    [Theory]
    [InlineData(13, "EACCES")]
    [InlineData(11, "EAGAIN")]
    [InlineData(35, "EDEADLK")]
    [InlineData(1, "EPERM")]
    public void Name_Number_ReturnsCanonicalName(int errno, string expected)
    {
        Assert.Equal(expected, ErrnoTable.Name(errno));
    }

    [Fact]
    public void NameOrNumber_NamesKnownErrnos_NumbersTheRest()
    {
        Assert.Equal("EACCES", ErrnoTable.NameOrNumber(Errno.EACCES));
        Assert.Equal("EAGAIN", ErrnoTable.NameOrNumber(Errno.EWOULDBLOCK));
        Assert.Equal("errno 4000", ErrnoTable.NameOrNumber(4000));
    }

    [Fact]
    public void Name_Unknown_ReturnsNull()
    {
        Assert.Null(ErrnoTable.Name(0));
        Assert.Null(ErrnoTable.Name(4000));
        Assert.False(ErrnoTable.TryGetNumber("EFOO", out _));
    }
}
