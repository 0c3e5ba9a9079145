using System.Runtime.InteropServices;
using Replug.Ctl;

// Ctrl-C and SIGTERM end a command (a --follow with exit code 0) instead of killing the process mid-write.
using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.Cancel();
};
using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
{
    context.Cancel = true;
    stop.Cancel();
});

var ctl = new Ctl(Console.Out, Console.Error, Environment.GetEnvironmentVariable, Environment.CurrentDirectory,
    terminal: !Console.IsOutputRedirected);
return await ctl.Run(args, stop.Token);
