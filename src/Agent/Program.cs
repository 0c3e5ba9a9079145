using Replug.Agent.Hosting;

// replug-agent: hears the kernel's uevents on this host and keeps its logical ports working.
//   dotnet run --project src/Agent                       the real kernel, /sys, appsettings.json
//   dotnet run --project src/Agent -- --replay FILE      a capture instead (kernel wire format or udevadm text)
// Any setting can be given as --Replug:Agent:KEY=VALUE or REPLUG__AGENT__KEY=VALUE.
return await AgentHost.RunAsync(args);
