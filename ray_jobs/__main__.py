from ray_jobs import main

main()
