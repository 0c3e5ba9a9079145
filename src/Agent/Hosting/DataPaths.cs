using Replug.Agent.Ports;

namespace Replug.Agent.Hosting;

public static class DataPaths
{
    public static IDataPath Create(AgentOptions.PortOptions port, string? networkNamespace) =>
        throw new NotSupportedException("pending");
}
