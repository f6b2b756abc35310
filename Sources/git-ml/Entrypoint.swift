import GitMLCommands

@main
struct Entrypoint {
    static func main() {
        GitML.launch()
    }
}
