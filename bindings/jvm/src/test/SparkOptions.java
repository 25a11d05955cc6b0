/** Prints the JVM options Spark's launcher gives a Spark JVM (module opens for Java 17+). */
public class SparkOptions {
    public static void main(String[] args) {
        System.out.println(org.apache.spark.launcher.JavaModuleOptions.defaultModuleOptions());
    }
}
